package bridge

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/petrel-edge/petrel/net/hostlocal"
)

// The built-in host-local runs in-process; any other IPAM plugin is found in
// CNI_PATH and executed as the spec says.

func ipamAdd(ctx context.Context, typ string, args *skel.CmdArgs) (*current.Result, error) {
	if typ == "host-local" {
		r, _, err := hostlocal.Allocate(args)
		return r, err
	}
	r, err := invoke.DelegateAdd(ctx, typ, args.StdinData, nil)
	if err != nil {
		return nil, err
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("convert IPAM result: %w", err)
	}
	return res, nil
}

func ipamDel(ctx context.Context, typ string, args *skel.CmdArgs) error {
	if typ == "host-local" {
		return hostlocal.Release(args)
	}
	return invoke.DelegateDel(ctx, typ, args.StdinData, nil)
}

func ipamCheck(ctx context.Context, typ string, args *skel.CmdArgs) error {
	if typ == "host-local" {
		return hostlocal.Check(args)
	}
	return invoke.DelegateCheck(ctx, typ, args.StdinData, nil)
}

func ipamStatus(ctx context.Context, typ string, args *skel.CmdArgs) error {
	if typ == "host-local" {
		return hostlocal.Status(args)
	}
	return invoke.DelegateStatus(ctx, typ, args.StdinData, nil)
}

func ipamGC(ctx context.Context, typ string, args *skel.CmdArgs) error {
	if typ == "host-local" {
		return hostlocal.GC(args)
	}
	return invoke.DelegateGC(ctx, typ, args.StdinData, nil)
}
