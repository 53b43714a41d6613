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
			return fmt.Errorf("%s hook %d (%s): %w%s", stage, i, h.Path, err, msg)
		}
	}
	return nil
}
