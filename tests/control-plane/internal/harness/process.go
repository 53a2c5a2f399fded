// Package harness holds what the test programs of this module share: runner (etcd and
// kube-apiserver, for scripts/control-plane) and cluster (a one-node cluster, for
// scripts/cluster). It starts, stops and watches child processes, waits for readiness, picks
// free ports, makes a throw-away certificate authority, writes kubeconfigs and talks to the API
// server.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is one child with its log file.
type Process struct {
	Name string
	Log  string // the path of its log file (stdout and stderr)
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs bin with args, logging to dir/NAME.log. A process that cannot be started is
// returned as one that has already ended, with the reason as its error (see Failure).
func Start(dir, name, bin string, args ...string) *Process {
	logPath := filepath.Join(dir, name+".log")
	p := &Process{Name: name, Log: logPath, done: make(chan struct{})}
	logFile, err := os.Create(logPath)
	if err != nil {
		p.err = err
		close(p.done)
		return p
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// Its own process group: a Ctrl-C in the terminal reaches the parent only, which then stops
	// its children in order rather than all at once. They die with the parent.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.err = err
		logFile.Close()
		close(p.done)
		return p
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits for the process to end; after grace it kills it. A nil, never
// started or ended process is left as it is.
func (p *Process) Stop(grace time.Duration) {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Failure says that the process ended, with the end of its log.
func (p *Process) Failure() error {
	tail := ""
	if data, err := os.ReadFile(p.Log); err == nil {
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		tail = "\n" + strings.Join(lines, "\n")
	}
	return fmt.Errorf("%s exited (%v); the end of its log:%s", p.Name, p.err, tail)
}

// Wait calls check every interval until it returns nil. It gives up with an error when one of
// children ends (nil ones are skipped), when check returns an error made by StopRetrying, when
// ctx ends or when timeout has passed; what names what it waits for in those errors.
func Wait(ctx context.Context, what string, timeout, interval time.Duration, children []*Process, check func() error) error {
	deadline := time.Now().Add(timeout)
	last := errors.New("no answer yet")
	for time.Now().Before(deadline) {
		for _, child := range children {
			if child == nil {
				continue
			}
			select {
			case <-child.done:
				return child.Failure()
			default:
			}
		}
		if last = check(); last == nil {
			return nil
		} else if errors.As(last, new(permanent)) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for %s", what)
		case <-time.After(interval):
		}
	}
	return fmt.Errorf("waited %s for %s: %v", timeout, what, last)
}

type permanent struct{ error }

// StopRetrying marks an error of a Wait check as final: Wait returns it at once.
func StopRetrying(err error) error { return permanent{err} }

// FreePorts returns n TCP ports that are free on host now (the kernel picks them; they are
// released again before it returns).
func FreePorts(host string, n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
