package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Name is the file name of the chain database of a node on port at
// difficulty: one per port and difficulty in a data directory, holding
// every network's chain by genesis.
func Name(port, difficulty int) string { return fmt.Sprintf("chain-%d-d%d.db", port, difficulty) }

// LegacyName is the file name an older blockpeer gave the database of a
// node on port at difficulty joined through peers (a hash of the sorted
// list was part of it), so that Migrate can tell which old store the same
// -peers used.
func LegacyName(peers []string, port, difficulty int) string {
	sorted := slices.Sorted(slices.Values(peers))
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",") + fmt.Sprintf("/%d", difficulty)))
	return fmt.Sprintf("chain-%d-d%d-%s.db", port, difficulty, hex.EncodeToString(sum[:4]))
}

// nameRE matches Name's names and LegacyName's.
var nameRE = regexp.MustCompile(`^chain-(\d+)-d(\d+)(-[0-9a-f]{8})?\.db$`)

// File is a chain database found in a data directory.
type File struct {
	Path             string
	Port, Difficulty int
	Legacy           bool // named by LegacyName: Migrate folds it into Name's
}

// ParseName reads the port and difficulty out of a database's file name.
func ParseName(path string) (File, bool) {
	m := nameRE.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return File{}, false
	}
	port, _ := strconv.Atoi(m[1])
	d, _ := strconv.Atoi(m[2])
	return File{Path: path, Port: port, Difficulty: d, Legacy: m[3] != ""}, true
}

// Find lists the chain databases in dir, by port and difficulty.
func Find(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		if f, ok := ParseName(filepath.Join(dir, e.Name())); ok && !e.IsDir() {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b File) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Difficulty, b.Difficulty), cmp.Compare(a.Path, b.Path))
	})
	return out, nil
}

// Migrated is an old database folded into the new one.
type Migrated struct {
	From    string // the old file, now renamed From+".migrated"
	Genesis string // the genesis of its chain ("" when it was empty)
	Blocks  int    // records copied (0: the store had that chain already, as tall)
}

// Migrate folds the databases of the old naming for port and difficulty in
// dir (one per -peers list, see LegacyName) into the database Name names:
// each old chain is copied, records as they are, under its genesis, unless
// the database holds that genesis with as many records; the old file is
// then renamed with ".migrated" appended. When the database has no
// current chain, the chain of the old file named prefer becomes current,
// else the one of the newest old file. A missing dir is no error.
func Migrate(dir string, port, difficulty int, prefer string) ([]Migrated, error) {
	files, err := Find(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var old []File
	for _, f := range files {
		if f.Legacy && f.Port == port && f.Difficulty == difficulty {
			old = append(old, f)
		}
	}
	if len(old) == 0 {
		return nil, nil
	}
	// Oldest first, the preferred one last: the last one copied becomes
	// current when none is.
	mtime := func(f File) int64 {
		if st, err := os.Stat(f.Path); err == nil {
			return st.ModTime().UnixNano()
		}
		return 0
	}
	slices.SortStableFunc(old, func(a, b File) int {
		pa, pb := filepath.Base(a.Path) == prefer, filepath.Base(b.Path) == prefer
		if pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		return cmp.Compare(mtime(a), mtime(b))
	})
	s, err := Open(filepath.Join(dir, Name(port, difficulty)))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	hadCurrent := s.Current() != ""
	var out []Migrated
	last := ""
	for _, f := range old {
		m, err := s.fold(f.Path, mtime(f))
		if err != nil {
			return out, fmt.Errorf("migrate %s: %w", f.Path, err)
		}
		if err := os.Rename(f.Path, f.Path+".migrated"); err != nil {
			return out, fmt.Errorf("migrate %s: %w", f.Path, err)
		}
		out = append(out, m)
		last = cmp.Or(m.Genesis, last)
	}
	if !hadCurrent && last != "" {
		err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(currentKey, []byte(last)) })
	}
	return out, err
}

// fold copies the chain of the old database at path, last used at
// usedNs, into s.
func (s *BoltStore) fold(path string, usedNs int64) (Migrated, error) {
	m := Migrated{From: path}
	var keys, values [][]byte
	src, err := OpenReadOnly(path)
	if err != nil {
		return m, err
	}
	err = src.db.View(func(tx *bolt.Tx) error {
		genesis, bk := current(tx)
		m.Genesis = genesis
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			return nil
		})
	})
	src.Close()
	if err != nil || m.Genesis == "" {
		return m, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		chains := tx.Bucket(chainsBucket)
		if bk := chains.Bucket([]byte(m.Genesis)); bk == nil || bk.Stats().KeyN < len(keys) {
			if bk != nil {
				if err := chains.DeleteBucket([]byte(m.Genesis)); err != nil {
					return err
				}
			}
			bk, err := chains.CreateBucket([]byte(m.Genesis))
			if err != nil {
				return err
			}
			for i := range keys {
				if err := bk.Put(keys[i], values[i]); err != nil {
					return err
				}
			}
			m.Blocks = len(keys)
			return markUsed(tx, m.Genesis, time.Unix(0, usedNs))
		}
		return nil
	})
	return m, err
}
