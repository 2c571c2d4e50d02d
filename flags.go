package main

import (
	"flag"
	"strings"
)

// parseAnywhere parses the flags of fs wherever they stand among args
// (ask HOST:PORT stats -difficulty 6, verify chain.json -difficulty 6) and
// returns the other arguments in order. "--" ends the flags: everything
// after it is an argument; a lone "-" (stdin) is an argument. A flag
// that takes a value takes the next argument, as flag.Parse does.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return positional, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
