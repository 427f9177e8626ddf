package supervise

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trim hands back what a burst of work left behind once the daemon is
// quiet again: the heap it freed (debug.FreeOSMemory, rather than
// minutes later when the scavenger gets to it) and its mappings of the
// start-up code. A Go binary's text and read-only data are file-backed
// pages, and the kernel maps them in 64 KiB runs around every fault, so
// after adopting 200 services the daemon holds ~10 MiB of its 17 MB
// binary although its idle loop runs in a few hundred KiB of it.
// MADV_DONTNEED on a read-only private file mapping only unmaps: the
// pages stay in the page cache (shared with every servicectl command)
// and the next fault maps them again from there, exactly as after the
// kernel's own reclaim of clean file pages. Writable mappings (data,
// bss, heap) are never touched. It reports how many mappings it dropped.
func trim() int {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	dropped := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00955000 r-xp 00000000 08:01 1234 /path/to/exe
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.ContainsRune(fields[1], 'w') {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(from, 16, 64)
		b, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_DONTNEED); e == 0 {
			dropped++
		}
	}
	return dropped
}
