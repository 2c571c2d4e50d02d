package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the test types into master, the
// command runs on slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx (the terminal test needs a pseudo-terminal): %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// startOnTerminal starts bin with args on a new pseudo-terminal, as its
// controlling terminal; the returned buffer collects what it shows.
func startOnTerminal(t *testing.T, bin string, args ...string) (master *os.File, screen *syncBuffer, exited chan error) {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it
	screen = &syncBuffer{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	// The test may take the exit status from exited; the cleanup waits on
	// gone, closed once the process is reaped whoever took the status.
	exited = make(chan error, 1)
	gone := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(gone) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
		}
	})
	return master, screen, exited
}

// TestShellOnTerminal runs the built binary's shell on a pseudo-terminal:
// the Up arrow recalls the last command (it used to be refused as the
// unknown command "\x1b[A"), Ctrl-D leaves with exit status 0, and Ctrl-C
// during a command (the terminal is back in its own mode then) stops the
// shell at once.
func TestShellOnTerminal(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	bin := buildBinary(t)
	addr, _ := startToolNode(t)
	master, screen, exited := startOnTerminal(t, bin, "shell", addr, "-difficulty", "2")
	waitFor := func(what string, n int) {
		t.Helper()
		eventually(t, 10*time.Second, fmt.Sprintf("%d× %q on the terminal; it shows:\n%q", n, what, screen.String()),
			func() bool { return strings.Count(screen.String(), what) >= n })
	}
	prompt := addr + "> "
	waitFor(prompt, 1)
	master.WriteString("stats\r")
	waitFor("chain  30 blocks, top #29", 1)
	waitFor(prompt, 2)
	master.WriteString("\x1b[A\r") // Up, Enter: stats again
	waitFor("chain  30 blocks, top #29", 2)
	waitFor(prompt, 3)
	if strings.Contains(screen.String(), "unknown command") {
		t.Errorf("the Up arrow was taken as a command:\n%s", screen.String())
	}
	master.WriteString("\x04") // Ctrl-D
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after Ctrl-D: %v, want exit status 0; terminal:\n%s", err, screen.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after Ctrl-D; terminal:\n%q", screen.String())
	}

	// Ctrl-C typed while a command waits on a silent peer.
	silent, asked := silentPeer(t)
	master, screen, exited = startOnTerminal(t, bin, "shell", "-timeout", "20s", silent)
	waitFor(silent+"> ", 1)
	master.WriteString("stats\r")
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatalf("the shell sent nothing; terminal:\n%q", screen.String())
	}
	master.WriteString("\x03") // Ctrl-C, a SIGINT from the terminal
	select {
	case err := <-exited:
		// The terminal's last output may still be on its way to screen.
		for end := time.Now().Add(2 * time.Second); !strings.Contains(screen.String(), "interrupted") && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if code := exitCode(err); code != exitInterrupted || !strings.Contains(screen.String(), "blockpeer shell: interrupted") {
			t.Errorf("after Ctrl-C: exit status %d, want %d and 'interrupted'; terminal:\n%q", code, exitInterrupted, screen.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after Ctrl-C (the timeout is 20s); terminal:\n%q", screen.String())
	}
}

// exitCode is the exit status in err from exec's Wait (0 for nil, -1 when
// it did not exit normally).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}
