package main

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// silentPeer is a UDP socket on 127.0.0.1 that reads datagrams and never
// answers; got receives one value per datagram (dropped when full).
func silentPeer(t *testing.T) (addr string, got <-chan []byte) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan []byte, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			select {
			case ch <- append([]byte(nil), buf[:n]...):
			default:
			}
		}
	}()
	return conn.LocalAddr().String(), ch
}

// TestCtrlCStopsTools runs ask, check and shell against a peer that never
// answers, with a 20 s timeout, and sends SIGINT while they wait: each
// must stop at once (well before its timeout) with exit status 130 and
// say it was interrupted.
func TestCtrlCStopsTools(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	bin := buildBinary(t)
	const stopBound = 5 * time.Second // the timeout is 20 s: waiting it out fails
	for _, tc := range []struct {
		name  string
		args  []string
		input string // written to stdin, which stays open
		ready string // "datagram": interrupt once the peer is asked; else a stdout text to wait for
	}{
		{"ask", []string{"ask", "-timeout", "20s", "ADDR", "stats"}, "", "datagram"},
		{"ask, flags after", []string{"ask", "ADDR", "chain", "-timeout", "20s"}, "", "datagram"},
		{"check", []string{"check", "-timeout", "20s", "ADDR"}, "", "datagram"},
		{"check -full", []string{"check", "-full", "-timeout", "20s", "ADDR"}, "", "datagram"},
		{"shell, in a command", []string{"shell", "-timeout", "20s", "ADDR"}, "stats\n", "datagram"},
		{"shell, at the prompt", []string{"shell", "-timeout", "20s", "ADDR"}, "help\n", "commands:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, asked := silentPeer(t)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "ADDR", addr)
			}
			cmd := exec.Command(bin, args...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-exited
			}()
			io.WriteString(stdin, tc.input)
			if tc.ready == "datagram" {
				select {
				case <-asked:
				case err := <-exited:
					exited <- err
					t.Fatalf("exited before asking: %v; stderr %q", err, stderr.String())
				case <-time.After(10 * time.Second):
					t.Fatalf("nothing sent to the peer within 10s; stdout %q stderr %q", stdout.String(), stderr.String())
				}
			} else {
				eventually(t, 10*time.Second, "stdout "+tc.ready, func() bool { return strings.Contains(stdout.String(), tc.ready) })
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				exited <- err // for the deferred Kill and Wait
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
					t.Errorf("after SIGINT: %v, want exit status %d", err, exitInterrupted)
				}
				if !strings.Contains(stderr.String(), "blockpeer "+args[0]+": interrupted") {
					t.Errorf("stderr %q does not say it was interrupted", stderr.String())
				}
				if strings.Contains(stdout.String(), "FAIL") {
					t.Errorf("the check cut short was reported as a FAIL:\n%s", stdout.String())
				}
			case <-time.After(stopBound):
				t.Fatalf("still running %v after SIGINT (its timeout is 20s); stdout %q", stopBound, stdout.String())
			}
		})
	}
}
