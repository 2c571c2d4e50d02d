package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"blockpeer/peer"
	"blockpeer/protocol"
)

// Help lists the lab's commands: what the console, a -scenario script
// and the page's buttons can do.
const Help = `lab commands (NODE is a name like lab-2 or its number, 2):
  add                     start a new node that joins through the seed
  stop NODE               stop a node (its chain is kept)
  start NODE              start a stopped node again, with its chain
  partition [A,B C,D]     split the network in two groups that cannot reach each other;
                          the group without the seed gets a miner (slower than the seed's).
                          Default: the seed and the first half against the rest
  heal                    join the two groups again: the taller chain wins
  liar [BACK]             start a liar claiming 5 blocks more than the seed, forged from
                          BACK blocks below the seed's top (default 3): it gets refused
  loss NODE PERCENT       lose PERCENT of the datagrams on NODE's links (0 to clear)
  delay NODE DURATION     delay every datagram on NODE's links, e.g. 300ms (0 to clear)
  clear                   no loss, no delay, no partition
  word TEXT               send NEW_WORD TEXT to the seed, which mines it into a block
  sleep DURATION          wait (in a -scenario script)
  help                    this list`

// ErrUnknownCommand is returned for a command the lab does not know.
var ErrUnknownCommand = errors.New("unknown command (help lists them)")

// command is one lab command: how many arguments it takes (max -1:
// any), the usage its error gives when they are not that many, and what
// it does with them.
type command struct {
	min, max int
	usage    string
	run      func(ctx context.Context, l *Lab, args []string) (string, error)
}

// commands are Do's commands by name.
var commands = map[string]command{
	"help": {0, -1, "", func(context.Context, *Lab, []string) (string, error) { return Help, nil }},
	"add":  {0, -1, "", func(_ context.Context, l *Lab, _ []string) (string, error) { return l.add() }},
	"stop": {1, 1, "stop NODE", func(_ context.Context, l *Lab, args []string) (string, error) { return l.stop(args[0]) }},
	"start": {1, 1, "start NODE", func(_ context.Context, l *Lab, args []string) (string, error) {
		return l.start(args[0])
	}},
	"partition": {0, -1, "", func(ctx context.Context, l *Lab, args []string) (string, error) { return l.partition(ctx, args) }},
	"heal":      {0, -1, "", func(ctx context.Context, l *Lab, _ []string) (string, error) { return l.heal(ctx) }},
	"liar": {0, -1, "", func(_ context.Context, l *Lab, args []string) (string, error) {
		back, err := liarBack(args)
		if err != nil {
			return "", err
		}
		return l.startLiarCmd(back)
	}},
	"loss": {2, 2, "loss NODE PERCENT", func(_ context.Context, l *Lab, args []string) (string, error) {
		return l.loss(args[0], args[1])
	}},
	"delay": {2, 2, "delay NODE DURATION", func(_ context.Context, l *Lab, args []string) (string, error) {
		return l.delay(args[0], args[1])
	}},
	"clear": {0, -1, "", func(ctx context.Context, l *Lab, _ []string) (string, error) { return l.clearLinks(ctx) }},
	"word": {1, -1, "word TEXT", func(_ context.Context, l *Lab, args []string) (string, error) {
		return l.word(strings.Join(args, " "))
	}},
	"sleep": {1, 1, "sleep DURATION", func(ctx context.Context, _ *Lab, args []string) (string, error) {
		return "", sleep(ctx, args[0])
	}},
}

// Do runs one command line and returns what it did, in words. Run must
// be running.
func (l *Lab) Do(ctx context.Context, line string) (string, error) {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return "", nil
	}
	name, args := f[0], f[1:]
	if !l.running() && name != "help" {
		return "", errors.New("the lab is not running")
	}
	cmd, ok := commands[name]
	if !ok {
		return "", fmt.Errorf("%q: %w", name, ErrUnknownCommand)
	}
	if len(args) < cmd.min || cmd.max >= 0 && len(args) > cmd.max {
		return "", errors.New(cmd.usage)
	}
	return cmd.run(ctx, l, args)
}

// running reports whether Run is running.
func (l *Lab) running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx != nil && l.ctx.Err() == nil
}

// liarBack is the liar command's BACK: its first argument, 3 without one.
func liarBack(args []string) (int, error) {
	if len(args) == 0 {
		return 3, nil
	}
	v, err := strconv.Atoi(args[0])
	if err != nil || v < 0 {
		return 0, fmt.Errorf("liar [BACK]: %q is not a number of blocks", args[0])
	}
	return v, nil
}

// loss makes the links of the node named node lose percent (e.g. 20 or
// 20%) of their datagrams.
func (l *Lab) loss(node, percent string) (string, error) {
	s, err := l.find(node)
	if err != nil {
		return "", err
	}
	p, err := strconv.ParseFloat(strings.TrimSuffix(percent, "%"), 64)
	if err != nil || p < 0 || p > 100 {
		return "", fmt.Errorf("loss: %q is not a percentage (0 to 100)", percent)
	}
	l.em.setLoss(s.pc.Advertise, p/100)
	return l.tell("%s's links now lose %g%% of datagrams", s.name, p), nil
}

// delay makes the links of the node named node delay every datagram by
// the duration d (e.g. 300ms).
func (l *Lab) delay(node, d string) (string, error) {
	s, err := l.find(node)
	if err != nil {
		return "", err
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur < 0 || dur > 10*time.Second {
		return "", fmt.Errorf("delay: %q is not a duration from 0 to 10s (e.g. 300ms)", d)
	}
	l.em.setDelay(s.pc.Advertise, dur)
	return l.tell("%s's links now delay every datagram by %s", s.name, dur), nil
}

// clearLinks takes the loss and delay off every node's links, and heals
// the partition if there is one.
func (l *Lab) clearLinks(ctx context.Context) (string, error) {
	l.mu.Lock()
	for _, s := range l.slots {
		l.em.setLoss(s.pc.Advertise, 0)
		l.em.setDelay(s.pc.Advertise, 0)
	}
	l.mu.Unlock()
	if l.em.partitioned() {
		return l.heal(ctx)
	}
	return l.tell("links cleared: no loss, no delay"), nil
}

// sleep waits for the duration d, or until ctx is done.
func sleep(ctx context.Context, d string) error {
	dur, err := time.ParseDuration(d)
	if err != nil || dur < 0 {
		return fmt.Errorf("sleep: %q is not a duration", d)
	}
	select {
	case <-time.After(dur):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// tell says what an action did, in the story, and returns it.
func (l *Lab) tell(format string, args ...any) string {
	l.narr.say(format, args...)
	return fmt.Sprintf(format, args...)
}

// find returns the slot named by s: a name or a number.
func (l *Lab) find(s string) (*slot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, err := strconv.Atoi(s); err == nil {
		if i < 0 || i >= len(l.slots) {
			return nil, fmt.Errorf("no node %d (0 to %d)", i, len(l.slots)-1)
		}
		return l.slots[i], nil
	}
	for _, sl := range l.slots {
		if sl.name == s {
			return sl, nil
		}
	}
	return nil, fmt.Errorf("no node %q", s)
}

func (l *Lab) add() (string, error) {
	l.mu.Lock()
	if len(l.slots) >= maxNodes {
		l.mu.Unlock()
		return "", fmt.Errorf("add: the lab has %d nodes already", maxNodes)
	}
	s, err := l.newSlot(len(l.slots))
	if err != nil {
		l.mu.Unlock()
		return "", fmt.Errorf("add: %w", err)
	}
	l.slots = append(l.slots, s)
	l.startSlot(s)
	l.mu.Unlock()
	return l.tell("added %s on %s: it joins through the seed", s.name, s.pc.Advertise), nil
}

func (l *Lab) stop(name string) (string, error) {
	s, err := l.find(name)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !s.up {
		return "", fmt.Errorf("%s is stopped already", s.name)
	}
	l.stopSlot(s)
	return l.tell("stopped %s, keeping its %d blocks (start %s brings it back)", s.name, s.chain.Height(), s.name), nil
}

func (l *Lab) start(name string) (string, error) {
	s, err := l.find(name)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	if s.up {
		l.mu.Unlock()
		return "", fmt.Errorf("%s is running already", s.name)
	}
	if err := l.bind(s); err != nil {
		l.mu.Unlock()
		return "", err
	}
	blocks := s.chain.Height() // before its node runs: then only its loop reads the chain
	l.startSlot(s)
	l.mu.Unlock()
	return l.tell("started %s again with its %d blocks", s.name, blocks), nil
}

// partition splits the lab: args are two comma-separated lists of nodes.
func (l *Lab) partition(ctx context.Context, args []string) (string, error) {
	var groups [2][]*slot
	switch len(args) {
	case 0:
		l.mu.Lock()
		half := (len(l.slots) + 1) / 2
		groups[0] = append(groups[0], l.slots[:half]...)
		groups[1] = append(groups[1], l.slots[half:]...)
		l.mu.Unlock()
	case 2:
		for g, list := range args {
			for _, name := range strings.Split(list, ",") {
				s, err := l.find(strings.TrimSpace(name))
				if err != nil {
					return "", fmt.Errorf("partition: %w", err)
				}
				groups[g] = append(groups[g], s)
			}
		}
	default:
		return "", errors.New("partition [A,B C,D]: two comma-separated lists of nodes, or none")
	}
	if len(groups[0]) == 0 || len(groups[1]) == 0 {
		return "", errors.New("partition: each group needs a node (the lab needs 2 nodes or more)")
	}
	if l.em.partitioned() {
		return "", errors.New("partition: heal the partition first")
	}
	// The group without the seed gets a miner of its own.
	other := groups[1]
	for _, s := range groups[1] {
		if s.index == 0 {
			other = groups[0]
		}
	}
	var addrs [2][]netip.AddrPort
	var names [2][]string
	for g := range groups {
		for _, s := range groups[g] {
			addrs[g] = append(addrs[g], s.pc.Advertise)
			names[g] = append(names[g], s.name)
		}
	}
	l.em.partition(addrs[:])
	mnr := other[0]
	interval := 2 * l.cfg.BlockInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	if err := l.nodeOf(mnr).SetMining(ctx, true, interval); err != nil {
		return "", fmt.Errorf("partition: %s's miner: %w", mnr.name, err)
	}
	l.mu.Lock()
	l.partMnr = mnr
	l.mu.Unlock()
	return l.tell("partition: {%s} | {%s}; %s mines for its group, a block every %s at most", strings.Join(names[0], " "), strings.Join(names[1], " "), mnr.name, interval), nil
}

func (l *Lab) heal(ctx context.Context) (string, error) {
	if !l.em.partitioned() {
		return "", errors.New("heal: the network is not partitioned")
	}
	l.em.heal()
	l.mu.Lock()
	mnr := l.partMnr
	l.partMnr = nil
	l.mu.Unlock()
	if mnr != nil {
		l.nodeOf(mnr).SetMining(ctx, false, 0)
	}
	return l.tell("healed: every node reaches every other again; the next consensus rounds pick the taller chain"), nil
}

func (l *Lab) startLiarCmd(back int) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.liar != nil {
		return "", errors.New("liar: one is running already")
	}
	lr, err := l.startLiar(l.ctx, back)
	if err != nil {
		return "", err
	}
	l.liar = lr
	msg := fmt.Sprintf("started liar %s on %s: it claims %d blocks more than the seed, forged from %d below the seed's top", lr.name, lr.tr.LocalAddr(), liarLead, back)
	l.narr.say("%s", msg) // say takes no lab lock
	return msg, nil
}

// word sends NEW_WORD to the seed over UDP, as a student would.
func (l *Lab) word(text string) (string, error) {
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("word: %w", err)
	}
	defer tr.Close()
	data, err := protocol.Encode(protocol.NewWord{Word: text})
	if err != nil {
		return "", fmt.Errorf("word: %w", err)
	}
	if err := tr.Send(l.seedAddr, data); err != nil {
		return "", fmt.Errorf("word: %w", err)
	}
	return fmt.Sprintf("sent %s to the seed %s", strings.TrimSpace(string(data)), l.seedAddr), nil
}

// RunScript runs the commands of r, one a line, stopping at the first
// error; each line is echoed to out before it runs. What a command does
// is told in the lab's story (Config.Console), not again here.
func (l *Lab) RunScript(ctx context.Context, r io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Fprintf(out, "> %s\n", line)
		msg, err := l.Do(ctx, line)
		if err != nil {
			return fmt.Errorf("line %d (%s): %w", n, line, err)
		}
		if strings.HasPrefix(line, "help") {
			fmt.Fprintln(out, msg)
		}
	}
	return sc.Err()
}
