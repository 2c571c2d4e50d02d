package chain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var blocksBucket = []byte("blocks")

// Errors of the store; test with errors.Is.
var (
	// ErrInUse: another process (or another open in this one) holds the
	// store's lock.
	ErrInUse = errors.New("is in use by another blockpeer process")
	// ErrDamaged: Load met a record that is not the next block (a gap or
	// undecodable bytes); it returns the blocks before it.
	ErrDamaged = errors.New("stored chain is damaged")
)

// lockTimeout is how long an open waits for another process's lock.
const lockTimeout = 100 * time.Millisecond

// BoltStore keeps a chain in a bbolt database file: one key per height (8
// bytes big-endian), the block as JSON. Every Replace is one transaction,
// so a crash leaves either the old or the new chain.
type BoltStore struct {
	db *bolt.DB
}

// OpenBoltStore opens (creating if needed) the chain database at path. It
// fails at once with an error wrapping ErrInUse, instead of waiting, when
// another process holds the file.
func OpenBoltStore(path string) (*BoltStore, error) {
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	var exists bool
	db.View(func(tx *bolt.Tx) error { exists = tx.Bucket(blocksBucket) != nil; return nil })
	if !exists { // a write transaction costs a sync to disk: only when needed
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(blocksBucket)
			return err
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init chain store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// OpenBoltStoreReadOnly opens an existing chain database for reading only
// (Replace fails). It shares the lock with other readers, but not with a
// node that has the store open.
func OpenBoltStoreReadOnly(path string) (*BoltStore, error) {
	db, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	return &BoltStore{db: db}, nil
}

func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("chain store %s %w (stop that node first, or give this one another -port or -data)", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open chain store %s: %w", path, err)
	}
	return db, nil
}

// Load returns the stored blocks in height order. At a gap or an
// undecodable record it stops and returns the blocks before it with an
// error wrapping ErrDamaged. The records are decoded on all cores.
func (s *BoltStore) Load() ([]*Block, error) {
	var records [][]byte
	var damage error
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(blocksBucket)
		if bk == nil {
			return nil // a read-only open of a store never written
		}
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h := len(records)
			if len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(h) {
				damage = fmt.Errorf("%w: no block at height %d (next record has key %x)", ErrDamaged, h, k)
				return nil
			}
			records = append(records, bytes.Clone(v)) // v lives only as long as the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chain store: %w", err)
	}
	blocks := make([]*Block, len(records))
	bad := make([]error, len(records))
	parallel(len(records), func(i int) {
		var b Block
		if err := json.Unmarshal(records[i], &b); err != nil {
			bad[i] = err
			return
		}
		blocks[i] = &b
	})
	for h, err := range bad {
		if err != nil {
			return blocks[:h], fmt.Errorf("%w: record of height %d is not a block: %v", ErrDamaged, h, err)
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

// Replace keeps heights below from, deletes the rest and writes blocks.
func (s *BoltStore) Replace(from int, blocks []*Block) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(blocksBucket)
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
		return nil
	})
}

// Close closes the database file.
func (s *BoltStore) Close() error { return s.db.Close() }

func heightKey(h int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(h)) }
