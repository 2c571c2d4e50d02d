package chain

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var blocksBucket = []byte("blocks")

// BoltStore keeps a chain in a bbolt database file: one key per height (8
// bytes big-endian), the block as JSON. Every Replace is one transaction,
// so a crash leaves either the old or the new chain.
type BoltStore struct {
	db *bolt.DB
}

// OpenBoltStore opens (creating if needed) the chain database at path. It
// fails at once, instead of waiting, when another process holds the file.
func OpenBoltStore(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("open chain store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(blocksBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init chain store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Load returns the stored blocks in height order, stopping at the first
// gap or undecodable record.
func (s *BoltStore) Load() ([]*Block, error) {
	var blocks []*Block
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(blocksBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(len(blocks)) {
				return nil
			}
			var b Block
			if json.Unmarshal(v, &b) != nil {
				return nil
			}
			blocks = append(blocks, &b)
		}
		return nil
	})
	return blocks, err
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
