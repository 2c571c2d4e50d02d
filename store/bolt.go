// Package store keeps chains on disk for package chain, which holds only
// the rules: the node's bbolt database (BoltStore, a chain.Store), how its
// files are named, found and migrated in a data directory (names.go), and
// chain files, JSON arrays of blocks for export and import (file.go).
//
// A database holds the chains of every network its node has been on, each
// keyed by its genesis hash; one of them is current (the one Load returns
// and Replace writes). Replacing the chain from height 0 with a chain of
// another genesis makes that one current and leaves the other where it
// is, so no network's chain overwrites another's.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"blockpeer/chain"
)

// The layout of a database.
var (
	// chainsBucket holds one bucket per chain, named by its genesis hash:
	// one key per height (8 bytes big-endian), the block as JSON.
	chainsBucket = []byte("chains")
	// metaBucket holds currentKey (the genesis hash of the current chain)
	// and, per chain, usedPrefix+genesis: when it was last written or
	// closed by a node (Unix seconds, 8 bytes big-endian).
	metaBucket = []byte("meta")
	currentKey = []byte("current")
	usedPrefix = "used/"
	// legacyBucket is the one chain of a database written before chains
	// were keyed by genesis. A read-write open moves it under its genesis;
	// a read-only open reads it as the current chain.
	legacyBucket = []byte("blocks")
)

// unknownGenesis keys a chain whose genesis record is missing or
// unreadable (a damaged store).
const unknownGenesis = "unknown-genesis"

// ErrInUse: another process (or another open in this one) holds the
// store's lock.
var ErrInUse = errors.New("is in use by another blockpeer process")

// lockTimeout is how long an open waits for another process's lock.
const lockTimeout = 100 * time.Millisecond

// BoltStore keeps chains in a bbolt database file. Every Replace is one
// transaction, so a crash leaves either the old or the new chain.
type BoltStore struct {
	db       *bolt.DB
	readOnly bool
}

// Open opens (creating if needed) the chain database at path and moves a
// chain of the old layout under its genesis. It fails at once with an
// error wrapping ErrInUse, instead of waiting, when another process holds
// the file.
func Open(path string) (*BoltStore, error) {
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	var ready bool
	db.View(func(tx *bolt.Tx) error {
		ready = tx.Bucket(chainsBucket) != nil && tx.Bucket(metaBucket) != nil && tx.Bucket(legacyBucket) == nil
		return nil
	})
	if !ready { // a write transaction costs a sync to disk: only when needed
		err = db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(chainsBucket); err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(metaBucket); err != nil {
				return err
			}
			return migrateLegacyBucket(tx)
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init chain store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// OpenReadOnly opens an existing chain database for reading only (Replace
// fails). It shares the lock with other readers, but not with a node that
// has the store open.
func OpenReadOnly(path string) (*BoltStore, error) {
	db, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	return &BoltStore{db: db, readOnly: true}, nil
}

func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open chain store: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("chain store %s %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open chain store %s: %w", path, err)
	}
	return db, nil
}

// migrateLegacyBucket moves the old layout's one chain under its genesis
// (the records copied as they are, damage included) and makes it current
// when no chain is.
func migrateLegacyBucket(tx *bolt.Tx) error {
	old := tx.Bucket(legacyBucket)
	if old == nil {
		return nil
	}
	genesis := genesisOf(old)
	if genesis != "" && tx.Bucket(chainsBucket).Bucket([]byte(genesis)) == nil {
		bk, err := tx.Bucket(chainsBucket).CreateBucket([]byte(genesis))
		if err != nil {
			return err
		}
		if err := old.ForEach(func(k, v []byte) error { return bk.Put(bytes.Clone(k), bytes.Clone(v)) }); err != nil {
			return err
		}
		meta := tx.Bucket(metaBucket)
		if meta.Get(currentKey) == nil {
			if err := meta.Put(currentKey, []byte(genesis)); err != nil {
				return err
			}
		}
	}
	return tx.DeleteBucket(legacyBucket)
}

// genesisOf returns the hash of the block at height 0 of bk, unknownGenesis
// when that record is unreadable, or "" when bk is empty.
func genesisOf(bk *bolt.Bucket) string {
	k, v := bk.Cursor().First()
	if k == nil {
		return ""
	}
	var b struct{ Hash string }
	if !bytes.Equal(k, heightKey(0)) || json.Unmarshal(v, &b) != nil || b.Hash == "" {
		return unknownGenesis
	}
	return b.Hash
}

func markUsed(tx *bolt.Tx, genesis string, at time.Time) error {
	return tx.Bucket(metaBucket).Put([]byte(usedPrefix+genesis), binary.BigEndian.AppendUint64(nil, uint64(at.Unix())))
}

// current returns the genesis hash of the current chain and its bucket
// (nil when there is none).
func current(tx *bolt.Tx) (string, *bolt.Bucket) {
	if chains, meta := tx.Bucket(chainsBucket), tx.Bucket(metaBucket); chains != nil && meta != nil {
		if cur := meta.Get(currentKey); cur != nil {
			return string(cur), chains.Bucket(cur)
		}
	}
	if old := tx.Bucket(legacyBucket); old != nil { // a read-only open of an old store
		return genesisOf(old), old
	}
	return "", nil
}

// Current returns the genesis hash of the current chain, "" when there is
// none.
func (s *BoltStore) Current() string {
	var g string
	s.db.View(func(tx *bolt.Tx) error { g, _ = current(tx); return nil })
	return g
}

// Load returns the blocks of the current chain in height order. At a gap
// or an undecodable record it stops and returns the blocks before it with
// an error wrapping chain.ErrDamaged. The records are decoded on all cores.
func (s *BoltStore) Load() ([]*chain.Block, error) {
	return s.load(func(tx *bolt.Tx) *bolt.Bucket { _, bk := current(tx); return bk })
}

// LoadChain returns the blocks of the chain of genesis hash genesis, as
// Load does.
func (s *BoltStore) LoadChain(genesis string) ([]*chain.Block, error) {
	return s.load(func(tx *bolt.Tx) *bolt.Bucket {
		if cur, bk := current(tx); cur == genesis {
			return bk
		}
		if chains := tx.Bucket(chainsBucket); chains != nil {
			return chains.Bucket([]byte(genesis))
		}
		return nil
	})
}

func (s *BoltStore) load(pick func(tx *bolt.Tx) *bolt.Bucket) ([]*chain.Block, error) {
	var records [][]byte
	var damage error
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := pick(tx)
		if bk == nil {
			return nil // no chain yet
		}
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h := len(records)
			if len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(h) {
				damage = fmt.Errorf("%w: no block at height %d (next record has key %x)", chain.ErrDamaged, h, k)
				return nil
			}
			records = append(records, bytes.Clone(v)) // v lives only as long as the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chain store: %w", err)
	}
	blocks := make([]*chain.Block, len(records))
	bad := make([]error, len(records))
	parallel(len(records), func(i int) {
		var b chain.Block
		if err := json.Unmarshal(records[i], &b); err != nil {
			bad[i] = err
			return
		}
		blocks[i] = &b
	})
	for h, err := range bad {
		if err != nil {
			return blocks[:h], fmt.Errorf("%w: record of height %d is not a block: %v", chain.ErrDamaged, h, err)
		}
	}
	return blocks, damage
}

// parallel calls f(0) ... f(n-1) spread over all cores.
func parallel(n int, f func(i int)) {
	workers := max(1, runtime.GOMAXPROCS(0))
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				f(i)
			}
		})
	}
	wg.Wait()
}

// Replace keeps the current chain's heights below from, deletes the rest
// and writes blocks. From height 0, blocks of another genesis go to that
// genesis's chain, which becomes current: the chain that was current is
// kept as it is. Replace(0, nil) deletes the current chain.
func (s *BoltStore) Replace(from int, blocks []*chain.Block) error {
	if s.readOnly {
		return errors.New("replace stored chain: the store is open read-only")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		cur, _ := current(tx)
		target := cur
		if from == 0 && len(blocks) > 0 {
			target = blocks[0].Hash
		}
		chains, meta := tx.Bucket(chainsBucket), tx.Bucket(metaBucket)
		if from == 0 && len(blocks) == 0 {
			if cur == "" {
				return nil
			}
			if chains.Bucket([]byte(cur)) != nil {
				if err := chains.DeleteBucket([]byte(cur)); err != nil {
					return err
				}
			}
			if err := meta.Delete([]byte(usedPrefix + cur)); err != nil {
				return err
			}
			return meta.Delete(currentKey)
		}
		if target == "" { // no block 0 to key it by: a damaged chain, kept as such
			target = unknownGenesis
		}
		bk, err := chains.CreateBucketIfNotExists([]byte(target))
		if err != nil {
			return err
		}
		c := bk.Cursor()
		for k, _ := c.Seek(heightKey(from)); k != nil; k, _ = c.Seek(heightKey(from)) {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		for i, b := range blocks {
			v, err := json.Marshal(b)
			if err != nil {
				return err
			}
			if err := bk.Put(heightKey(from+i), v); err != nil {
				return err
			}
		}
		if target != cur {
			if err := meta.Put(currentKey, []byte(target)); err != nil {
				return err
			}
		}
		return markUsed(tx, target, time.Now())
	})
}

// Chain describes one stored chain.
type Chain struct {
	Genesis  string    // hash of its block 0 (the network it belongs to)
	Blocks   int       // its height: 1 + the top record's height
	Tip      string    // hash of its top block ("" when unreadable)
	LastUsed time.Time // when a node last wrote it or closed the store on it (zero: not known)
	Current  bool      // the chain a node on this store serves
}

// Chains lists the stored chains, the current one first, then the most
// recently used.
func (s *BoltStore) Chains() ([]Chain, error) {
	var out []Chain
	err := s.db.View(func(tx *bolt.Tx) error {
		cur, curBk := current(tx)
		describe := func(genesis string, bk *bolt.Bucket) {
			c := Chain{Genesis: genesis, Current: genesis == cur}
			if k, v := bk.Cursor().Last(); k != nil {
				var b struct{ Hash string }
				if json.Unmarshal(v, &b) == nil {
					c.Tip = b.Hash
				}
				if len(k) == 8 {
					c.Blocks = int(binary.BigEndian.Uint64(k)) + 1
				}
			}
			if meta := tx.Bucket(metaBucket); meta != nil {
				if v := meta.Get([]byte(usedPrefix + genesis)); len(v) == 8 {
					c.LastUsed = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
				}
			}
			out = append(out, c)
		}
		if chains := tx.Bucket(chainsBucket); chains != nil {
			return chains.ForEachBucket(func(k []byte) error {
				describe(string(k), chains.Bucket(k))
				return nil
			})
		}
		if curBk != nil { // an old store, read-only
			describe(cur, curBk)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Current != out[j].Current {
			return out[i].Current
		}
		return out[i].LastUsed.After(out[j].LastUsed)
	})
	return out, err
}

// Close marks the current chain used now (unless the store is read-only)
// and closes the database file.
func (s *BoltStore) Close() error {
	var err error
	if !s.readOnly {
		err = s.db.Update(func(tx *bolt.Tx) error {
			if cur, bk := current(tx); bk != nil {
				return markUsed(tx, cur, time.Now())
			}
			return nil
		})
	}
	return errors.Join(err, s.db.Close())
}

func heightKey(h int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(h)) }
