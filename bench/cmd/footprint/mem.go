package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// smaps is what /proc/PID/smaps_rollup says of a process, in KiB.
type smaps struct {
	RSS, PSS, Private int64
	// Anonymous is heap, stacks and other memory of no file: what the
	// process itself allocated, however its file pages are shared.
	Anonymous int64
}

// readSmaps reads a process's rollup: PSS counts each shared page in
// proportion to its sharers, so the PSS of a set of processes adds up to
// the memory the set uses; Private is what the process alone holds.
func readSmaps(pid int) (smaps, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return smaps{}, err
	}
	return parseSmaps(data)
}

func parseSmaps(data []byte) (smaps, error) {
	var s smaps
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			s.RSS, found = n, found+1
		case "Pss:":
			s.PSS, found = n, found+1
		case "Anonymous:":
			s.Anonymous = n
		case "Private_Clean:", "Private_Dirty:":
			s.Private += n
		}
	}
	if found < 2 {
		return s, fmt.Errorf("smaps_rollup without Rss and Pss lines")
	}
	return s, nil
}

// sumPSS adds the PSS of processes, in KiB.
func sumPSS(pids ...int) (int64, error) {
	var sum int64
	for _, p := range pids {
		s, err := readSmaps(p)
		if err != nil {
			return 0, err
		}
		sum += s.PSS
	}
	return sum, nil
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
