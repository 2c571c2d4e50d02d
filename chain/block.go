// Package chain holds the course network's block: its hash rule, the
// validation rules of section 4 of the protocol spec, and the verified
// chain with its tip, kept through the Store interface (package store
// keeps it on disk).
//
// It imports no other package of blockpeer, touches no socket and reads no
// clock: every rule here is a pure function of its inputs.
package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits of a valid block (section 4 of the spec).
const (
	MaxMessages     = 10 // messages per block
	MaxMessageRunes = 20 // code points per message
	MaxNonceRunes   = 40 // code points per nonce
	HashHexLen      = 64 // a SHA-256 digest in hex
)

// Block is one block as it travels on the wire. There is no previous-hash
// field: a block links to its predecessor through the hash rule.
type Block struct {
	Height    int      `json:"height"`
	MinedBy   string   `json:"minedBy"`
	Nonce     string   `json:"nonce"`
	Messages  []string `json:"messages"`
	Hash      string   `json:"hash"`
	Timestamp int64    `json:"timestamp"`
}

// Preimage returns the bytes whose SHA-256 is the block's hash: prev (the
// previous block's hash as ASCII hex, empty for height 0), minedBy, every
// message, the timestamp as 8 unsigned big-endian bytes, then the nonce.
func Preimage(prev string, b *Block) []byte {
	n := len(prev) + len(b.MinedBy) + 8 + len(b.Nonce)
	for _, m := range b.Messages {
		n += len(m)
	}
	buf := make([]byte, 0, n)
	buf = AppendPrefix(buf, prev, b.MinedBy, b.Messages, b.Timestamp)
	return append(buf, b.Nonce...)
}

// AppendPrefix appends to dst the part of the preimage that comes before the
// nonce. Miners hash it once per template.
func AppendPrefix(dst []byte, prev, minedBy string, messages []string, timestamp int64) []byte {
	dst = append(dst, prev...)
	dst = append(dst, minedBy...)
	for _, m := range messages {
		dst = append(dst, m...)
	}
	return binary.BigEndian.AppendUint64(dst, uint64(timestamp))
}

// ComputeHash returns the lower-case hex SHA-256 of the block's preimage.
// prev must be empty for height 0.
func ComputeHash(prev string, b *Block) string {
	sum := preimageSum(prev, b)
	return hex.EncodeToString(sum[:])
}

// preimageSum is the SHA-256 of the block's preimage, built in a stack
// buffer (a usual block's fits): verification runs it on every block and
// allocates nothing.
func preimageSum(prev string, b *Block) [sha256.Size]byte {
	var buf [256]byte
	pre := AppendPrefix(buf[:0], prev, b.MinedBy, b.Messages, b.Timestamp)
	return sha256.Sum256(append(pre, b.Nonce...))
}

// MeetsDifficulty reports whether hash ends with difficulty '0' characters.
func MeetsDifficulty(hash string, difficulty int) bool {
	if difficulty < 0 || difficulty > len(hash) {
		return false
	}
	for i := len(hash) - difficulty; i < len(hash); i++ {
		if hash[i] != '0' {
			return false
		}
	}
	return true
}

// Errors returned by validation; wrapped with detail, test with errors.Is.
var (
	ErrFields     = errors.New("block fields out of limits")
	ErrDifficulty = errors.New("hash does not meet the difficulty")
	ErrHash       = errors.New("hash does not match the block's contents")
	ErrHeight     = errors.New("wrong height")
)

// CheckFields checks everything about a block that needs no other block:
// field limits, the shape of the hash and the difficulty. It does not
// recompute the hash (that needs the predecessor's hash).
func CheckFields(b *Block, difficulty int) error {
	if err := checkLimits(b); err != nil {
		return err
	}
	if !IsHash(b.Hash) {
		return fmt.Errorf("%w: hash %q is not 64 lower-case hex digits", ErrFields, b.Hash)
	}
	if !MeetsDifficulty(b.Hash, difficulty) {
		return fmt.Errorf("%w: %s does not end with %d zeros", ErrDifficulty, b.Hash, difficulty)
	}
	return nil
}

// checkLimits checks the field limits: CheckFields but the hash. A string
// is never longer in code points than in bytes, so short strings skip the
// count.
func checkLimits(b *Block) error {
	switch {
	case b.Height < 0:
		return fmt.Errorf("%w: negative height %d", ErrFields, b.Height)
	case b.Timestamp < 0:
		return fmt.Errorf("%w: negative timestamp %d", ErrFields, b.Timestamp)
	case len(b.Messages) > MaxMessages:
		return fmt.Errorf("%w: %d messages (at most %d)", ErrFields, len(b.Messages), MaxMessages)
	case len(b.Nonce) > MaxNonceRunes && utf8.RuneCountInString(b.Nonce) > MaxNonceRunes:
		return fmt.Errorf("%w: nonce of %d characters (at most %d)", ErrFields, utf8.RuneCountInString(b.Nonce), MaxNonceRunes)
	case !utf8.ValidString(b.MinedBy) || !utf8.ValidString(b.Nonce):
		return fmt.Errorf("%w: minedBy or nonce is not UTF-8", ErrFields)
	}
	for i, m := range b.Messages {
		if !utf8.ValidString(m) {
			return fmt.Errorf("%w: message %d is not UTF-8", ErrFields, i)
		}
		if len(m) <= MaxMessageRunes {
			continue
		}
		if n := utf8.RuneCountInString(m); n > MaxMessageRunes {
			return fmt.Errorf("%w: message %d has %d characters (at most %d)", ErrFields, i, n, MaxMessageRunes)
		}
	}
	return nil
}

// Validate checks b as the block at height len(chain) on top of a block whose
// hash is prev (empty when b is a genesis block): the field limits, the
// difficulty and the recomputed hash.
func Validate(b *Block, prev string, height, difficulty int) error {
	if b.Height != height {
		return fmt.Errorf("%w: block says %d, expected %d", ErrHeight, b.Height, height)
	}
	if (height == 0) != (prev == "") {
		return fmt.Errorf("%w: previous hash %q for height %d", ErrHeight, prev, height)
	}
	// The usual case first: a hash equal to the computed one is 64 hex
	// digits, so only the limits and the difficulty remain to check.
	if validFast(b, prev, difficulty) {
		return nil
	}
	if err := CheckFields(b, difficulty); err != nil {
		return err
	}
	sum := preimageSum(prev, b)
	return fmt.Errorf("%w: block %d claims %s, contents hash to %s", ErrHash, b.Height, b.Hash, hex.EncodeToString(sum[:]))
}

// validFast reports whether b is valid on top of prev at difficulty (its
// height checked by the caller): the same rules as checkLimits,
// MeetsDifficulty and the recomputed hash, in one pass over the preimage
// it builds anyway. When the text fields are ASCII, which it learns from
// the preimage 8 bytes at a time, they are valid UTF-8 with as many code
// points as bytes, and the limits are byte counts. Otherwise it takes the
// general checks. false: invalid, or not decided here (Validate then
// finds the error the slow way).
func validFast(b *Block, prev string, difficulty int) bool {
	if b.Height < 0 || b.Timestamp < 0 || len(b.Messages) > MaxMessages || !MeetsDifficulty(b.Hash, difficulty) {
		return false
	}
	var buf [256]byte
	pre := AppendPrefix(buf[:0], prev, b.MinedBy, b.Messages, b.Timestamp)
	text := pre[len(prev) : len(pre)-8] // minedBy and the messages
	pre = append(pre, b.Nonce...)
	if isASCII(text) && isASCII(pre[len(pre)-len(b.Nonce):]) {
		if len(b.Nonce) > MaxNonceRunes {
			return false
		}
		for _, m := range b.Messages {
			if len(m) > MaxMessageRunes {
				return false
			}
		}
	} else if checkLimits(b) != nil {
		return false
	}
	sum := sha256.Sum256(pre)
	return hexIs(&sum, b.Hash)
}

// isASCII reports whether every byte of p is below 0x80.
func isASCII(p []byte) bool {
	var or uint64
	for len(p) >= 8 {
		or |= binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	for _, c := range p {
		or |= uint64(c)
	}
	return or&0x8080808080808080 == 0
}

// hexIs reports whether s is sum in lower-case hex, eight digits at a
// time.
func hexIs(sum *[sha256.Size]byte, s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < sha256.Size; i += 4 {
		want := uint64(hexPairs[sum[i]]) | uint64(hexPairs[sum[i+1]])<<16 |
			uint64(hexPairs[sum[i+2]])<<32 | uint64(hexPairs[sum[i+3]])<<48
		d := s[2*i : 2*i+8]
		got := uint64(d[0]) | uint64(d[1])<<8 | uint64(d[2])<<16 | uint64(d[3])<<24 |
			uint64(d[4])<<32 | uint64(d[5])<<40 | uint64(d[6])<<48 | uint64(d[7])<<56
		if got != want {
			return false
		}
	}
	return true
}

// hexPairs holds each byte's two lower-case hex digits, the first in the
// low byte.
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = uint16(digits[i>>4]) | uint16(digits[i&15])<<8
	}
	return t
}()

// IsHash reports whether s is 64 lower-case hex digits.
func IsHash(s string) bool {
	if len(s) != HashHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex[s[i]] {
			return false
		}
	}
	return true
}

// isLowerHex marks the bytes '0'-'9' and 'a'-'f'.
var isLowerHex = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true,
}

// Clone returns a deep copy of b (its messages slice is not shared).
func (b *Block) Clone() *Block {
	c := *b
	if b.Messages != nil {
		c.Messages = append(make([]string, 0, len(b.Messages)), b.Messages...)
	}
	return &c
}
