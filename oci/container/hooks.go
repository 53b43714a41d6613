package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs the hooks of one stage in order with the state on stdin;
// the first failure stops the stage and is returned with the hook's output.
func runHooks(stage string, hooks []specs.Hook, state *specs.State) error {
	return runHooksFrom(stage, hooks, state, nil)
}

// runHooksWarn runs every hook of a stage whose failures are only warnings
// (poststart, poststop): a failed hook is reported and the next one runs.
func runHooksWarn(stage string, hooks []specs.Hook, state *specs.State, warn func(string)) {
	if warn == nil {
		warn = func(string) {}
	}
	runHooksFrom(stage, hooks, state, warn)
}

func runHooksFrom(stage string, hooks []specs.Hook, state *specs.State, warn func(string)) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if h.Timeout != nil {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		}
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		timedOut := ctx.Err() != nil
		cancel()
		if err != nil {
			if timedOut {
				err = fmt.Errorf("timed out after %ds", *h.Timeout)
			}
			msg := strings.TrimSpace(out.String())
			if msg != "" {
				msg = ": " + msg
			}
			err = fmt.Errorf("%s hook %d (%s): %w%s", stage, i, h.Path, err, msg)
			if warn == nil {
				return err
			}
			warn(err.Error())
		}
	}
	return nil
}
