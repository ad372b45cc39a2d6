package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The app every container runs: a counter in memory, +1 per second from its start value,
// written to the container's log in the CRI log format so `kubectl logs` shows it.

// app is one run of the app (one StartContainer, or one restore).
type app struct {
	startValue   int64
	startedAt    time.Time
	restoredFrom string

	mu      sync.Mutex
	logPath string
	log     *os.File
	stop    chan exitReq
	done    chan struct{}
}

type exitReq struct {
	code   int32
	reason string
}

// criLine formats one line of the CRI log format: `<RFC3339Nano> stdout F <text>\n`.
func criLine(t time.Time, text string) string {
	return fmt.Sprintf("%s stdout F %s\n", t.Format(time.RFC3339Nano), text)
}

// counterAt is the app's counter at t.
func (a *app) counterAt(t time.Time) int64 {
	el := t.Sub(a.startedAt)
	if el < 0 {
		el = 0
	}
	return a.startValue + int64(el/time.Second)
}

// State is the app's memory at t, as the checkpoint writes it.
func (a *app) State(t time.Time) AppState {
	return AppState{Counter: a.counterAt(t), StartedAt: isoMillis(a.startedAt), RestoredFrom: a.restoredFrom}
}

func (a *app) openLog() error {
	if a.logPath == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(a.logPath), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(a.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	a.log = f
	return nil
}

func (a *app) write(t time.Time, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.log != nil {
		_, _ = a.log.WriteString(criLine(t, text))
	}
}

// reopen closes and reopens the log (ReopenContainerLog, after the kubelet rotated it).
func (a *app) reopen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.log != nil {
		a.log.Close()
		a.log = nil
	}
	return a.openLog()
}

// startApp starts the app; onExit is called once with the exit code and reason.
// crashAfter > 0 makes it exit 1 after that long (the "loop" fault).
func startApp(logPath string, startValue int64, restoredFrom, restoredImage string, crashAfter time.Duration, onExit func(code int32, reason string)) (*app, error) {
	a := &app{startValue: startValue, startedAt: time.Now(), restoredFrom: restoredFrom, logPath: logPath,
		stop: make(chan exitReq, 1), done: make(chan struct{})}
	if err := a.openLog(); err != nil {
		return nil, err
	}
	if restoredImage != "" {
		a.write(a.startedAt, fmt.Sprintf("kcr-sim app restored from %s at counter=%d", restoredImage, startValue))
	} else {
		a.write(a.startedAt, "kcr-sim app started fresh")
	}
	a.write(a.startedAt, fmt.Sprintf("counter=%d", startValue))
	go a.run(crashAfter, onExit)
	return a, nil
}

func (a *app) run(crashAfter time.Duration, onExit func(int32, string)) {
	defer close(a.done)
	var crash <-chan time.Time
	if crashAfter > 0 {
		t := time.NewTimer(crashAfter)
		defer t.Stop()
		crash = t.C
	}
	next := 1
	timer := time.NewTimer(time.Until(a.startedAt.Add(time.Second)))
	defer timer.Stop()
	finish := func(code int32, reason string) {
		a.mu.Lock()
		if a.log != nil {
			a.log.Close()
			a.log = nil
		}
		a.mu.Unlock()
		onExit(code, reason)
	}
	for {
		select {
		case now := <-timer.C:
			a.write(now, fmt.Sprintf("counter=%d", a.startValue+int64(next)))
			next++
			timer.Reset(time.Until(a.startedAt.Add(time.Duration(next) * time.Second)))
		case <-crash:
			a.write(time.Now(), "kcr-sim app crashing (fault crash=loop)")
			finish(1, "Error")
			return
		case r := <-a.stop:
			finish(r.code, r.reason)
			return
		}
	}
}

// exit ends the run with code and reason and waits for it; a second call is a no-op.
func (a *app) exit(code int32, reason string) {
	select {
	case a.stop <- exitReq{code, reason}:
	default:
	}
	<-a.done
}
