// Package hugetext keeps the petrel binary's code in the page cache as
// 2 MiB folios, so that each process started from it — every client
// command, every shim — maps its text with a few PMD entries instead of
// taking a page fault for every 64 KiB of code it runs.
//
// A Go program's start is mostly page faults: the runtime and the
// package initialisers run code all over a 5 MiB text segment. How many
// faults that takes depends on how the file came into the page cache,
// not on the process: read by exec's faults (the state after a boot) it
// sits in small folios; read through a MADV_HUGEPAGE mapping it sits in
// PMD-sized folios, which the kernel maps whole wherever the segment's
// address and file offset agree modulo 2 MiB (as Go's linker lays out
// amd64 binaries). Populate puts a range of a file in the second state.
//
// The cost: a process that runs any code in a 2 MiB folio maps all of
// it, so a long-lived one (petreld) counts the whole text segment in its
// PSS, not only the pages it runs. Only the text pays off: read-only data
// in huge folios made no start faster here.
package hugetext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Available reports whether the kernel lets a process ask for huge pages
// (transparent_hugepage/enabled is "always" or "madvise") of 2 MiB, and
// why not.
func Available() (bool, string) {
	const thp = "/sys/kernel/mm/transparent_hugepage/"
	enabled, err := os.ReadFile(thp + "enabled")
	if err != nil {
		return false, "the kernel has no transparent huge pages"
	}
	if bytes.Contains(enabled, []byte("[never]")) {
		return false, "transparent huge pages are off (transparent_hugepage/enabled is never)"
	}
	if size, _ := os.ReadFile(thp + "hpage_pmd_size"); strings.TrimSpace(string(size)) != strconv.Itoa(huge) {
		return false, fmt.Sprintf("huge pages are %q bytes here, not 2 MiB", strings.TrimSpace(string(size)))
	}
	return true, ""
}

// Populate reads path's range [off, off+length), widened to 2 MiB
// boundaries, into PMD-sized folios where the file system allows: for
// each 2 MiB, it drops the clean pages from the page cache and reads
// them back through a MADV_HUGEPAGE mapping. Pages that a process maps
// cannot be dropped, so a 2 MiB piece that a client started meanwhile
// keeps in small folios is tried again a few times as clients come and
// go. It returns how many bytes ended in huge folios: 0 where the file
// system or the kernel keeps small ones.
func Populate(path string, off, length int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	start, end := off&^(huge-1), min((off+length+huge-1)&^(huge-1), st.Size())
	if off < 0 || length <= 0 || start >= end {
		return 0, fmt.Errorf("%s: no bytes at [%d, %d)", path, off, off+length)
	}
	fd := int(f.Fd())
	// Dirty pages (a binary just written) stay through DONTNEED. A file
	// system that cannot sync (read-only ones) has none.
	unix.Fdatasync(fd)
	var n int64
	for piece := start; piece+huge <= end; piece += huge {
		for wait := 5 * time.Millisecond; ; wait *= 2 {
			ok, err := populatePiece(fd, piece)
			if err != nil {
				return n, fmt.Errorf("%s: %w", path, err)
			}
			if ok {
				n += huge
				break
			}
			if wait > 40*time.Millisecond {
				break
			}
			time.Sleep(wait)
		}
	}
	return n, nil
}

// huge is the size of a PMD-mapped folio.
const huge = 2 << 20

// populatePiece drops the 2 MiB of the file at off from the page cache,
// reads them back through a MADV_HUGEPAGE mapping, and reports whether
// they are in one folio that the mapping maps whole.
func populatePiece(fd int, off int64) (bool, error) {
	if err := unix.Fadvise(fd, off, huge, unix.FADV_DONTNEED); err != nil {
		return false, fmt.Errorf("drop from the page cache: %w", err)
	}
	mem, err := unix.Mmap(fd, off, huge, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return false, fmt.Errorf("map: %w", err)
	}
	defer unix.Munmap(mem)
	if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
		return false, fmt.Errorf("madvise: %w", err)
	}
	var sum byte
	for i := 0; i < len(mem); i += os.Getpagesize() {
		sum += mem[i]
	}
	runtime.KeepAlive(sum)
	n, err := pmdMapped(mappingStart(mem))
	return n == huge, err
}

func mappingStart(mem []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&mem[0]))) }

// ExecCopy executes a copy of the file at path, made in anonymous memory,
// with argv and env: the process then maps nothing of path, whose pages
// Populate can drop and read again. It returns only on failure.
func ExecCopy(path string, argv, env []string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("petrel", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "memfd:petrel")
	defer dst.Close()
	if _, err := dst.ReadFrom(src); err != nil {
		return fmt.Errorf("copy %s: %w", path, err)
	}
	// An ELF file is opened before the close-on-exec descriptors close.
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	return fmt.Errorf("execute a copy of %s: %w", path, unix.Exec(self, argv, env))
}

// SetName sets this process's name (its comm), which a process executed
// from a memfd otherwise takes from the descriptor's number.
func SetName(name string) error {
	b := append([]byte(name), 0)
	return unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// Mapped returns how many bytes of files this process maps with PMD
// entries: for a static binary that maps no other file, its own text and
// rodata.
func Mapped() (int64, error) {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return fieldKiB(bufio.NewScanner(f), "FilePmdMapped:")
}

// Release has this process map its own text with small pages again,
// and only the pages it runs: a process maps a large folio whole on its
// first fault in it, so a long-lived one (petreld) would count all 5 MiB
// of text in its PSS. Release splits each executable mapping of the
// binary into 1 MiB areas (alternate ones marked MADV_NOHUGEPAGE), which
// no 2 MiB folio fits, so that faults map 64 KiB around them as with
// small folios, and drops the mappings' page tables. A process that maps
// none of its binary with PMD entries (the text is in small folios) is
// left as it is.
func Release() error {
	if n, err := Mapped(); err != nil || n == 0 {
		return err
	}
	return release()
}

// release is Release without the check.
func release() error {
	maps, exe, err := ownMappings()
	if err != nil {
		return err
	}
	const piece = 1 << 20
	for _, m := range maps {
		if !m.is(exe) || !strings.Contains(m.perms, "x") {
			continue
		}
		for a := (m.start + piece) &^ (piece - 1); a < m.end; a += 2 * piece {
			if err := madvise(a, min(a+piece, m.end), unix.MADV_NOHUGEPAGE); err != nil {
				return err
			}
		}
		if err := madvise(m.start, m.end, unix.MADV_DONTNEED); err != nil {
			return err
		}
	}
	return nil
}

func madvise(start, end uint64, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise %#x-%#x: %w", start, end, errno)
	}
	return nil
}

// ownMappings returns /proc/self/maps and the binary's identity.
func ownMappings() ([]mapping, unix.Stat_t, error) {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return nil, exe, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, exe, err
	}
	var maps []mapping
	for line := range strings.Lines(string(data)) {
		if m, ok := parseMapsLine(line); ok {
			maps = append(maps, m)
		}
	}
	return maps, exe, nil
}

// Text describes this process's executable mapping of its own binary:
// its text segment.
type Text struct {
	Offset, Length int64 // in the file
	// Mappable is how many bytes of it can be mapped with PMD entries:
	// the 2 MiB pieces that the mapping covers whole, provided addresses
	// and file offsets agree modulo 2 MiB (0 otherwise).
	Mappable int64
	// Mapped is how many bytes of it this process maps so.
	Mapped int64
}

// OwnText returns this process's Text.
func OwnText() (Text, error) {
	maps, exe, err := ownMappings()
	if err != nil {
		return Text{}, err
	}
	for _, m := range maps {
		if !m.is(exe) || !strings.Contains(m.perms, "x") {
			continue
		}
		t := Text{Offset: m.offset, Length: int64(m.end - m.start)}
		if (int64(m.start)-m.offset)%huge == 0 {
			t.Mappable = max(0, int64(m.end&^(huge-1))-int64((m.start+huge-1)&^(huge-1)))
		}
		t.Mapped, err = pmdMapped(m.start)
		return t, err
	}
	return Text{}, errors.New("no executable mapping of /proc/self/exe in /proc/self/maps")
}

// mapping is a line of /proc/self/maps.
type mapping struct {
	start, end uint64
	perms      string
	offset     int64
	dev, inode uint64
}

func (m mapping) is(file unix.Stat_t) bool { return m.inode == file.Ino && m.dev == file.Dev }

// parseMapsLine parses "start-end perms offset major:minor inode [path]".
func parseMapsLine(line string) (mapping, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	maj, min, ok2 := strings.Cut(f[3], ":")
	off, err := strconv.ParseInt(f[2], 16, 64)
	if !ok || !ok2 || err != nil {
		return mapping{}, false
	}
	m := mapping{offset: off}
	var nums [5]uint64
	for i, s := range []string{lo, hi, maj, min, f[4]} {
		base := 16
		if i == 4 {
			base = 10
		}
		n, err := strconv.ParseUint(s, base, 64)
		if err != nil {
			return mapping{}, false
		}
		nums[i] = n
	}
	m.start, m.end, m.perms = nums[0], nums[1], f[1]
	m.dev, m.inode = unix.Mkdev(uint32(nums[2]), uint32(nums[3])), nums[4]
	return m, true
}

// pmdMapped returns FilePmdMapped of this process's mapping that starts
// at addr.
func pmdMapped(addr uint64) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	head := fmt.Sprintf("%08x-", addr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), head) {
			return fieldKiB(sc, "FilePmdMapped:")
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("mapping not found in /proc/self/smaps")
}

// fieldKiB scans to the line "name  N kB" and returns N KiB in bytes.
func fieldKiB(sc *bufio.Scanner, name string) (int64, error) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", name, rest, err)
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", name)
}
