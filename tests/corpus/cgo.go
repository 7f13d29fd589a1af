// The native (C malloc) scenarios: cgo-malloc leaks outside the Go heap, cgo-balanced mallocs
// and frees around a constant level.  Built with CGO_ENABLED=1 (Debian's gcc).
package main

/*
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// Blocks are requested 32 bytes short of a page multiple: with glibc's malloc header each
// is then mmap'd (at or above the 128 KiB threshold) in exactly that many pages, so RSS
// grows by the counted size and no more.
#define NATIVE_SLACK 32

// native_grow: malloc'd, written, never freed.  Every block is chained from a list nobody
// walks (a leak as real programs have them); without it the compiler may drop the malloc
// and the memset of a pointer that is never used.
static void *grown;

static int native_grow(size_t n, int fill) {
	void **p = malloc(n - NATIVE_SLACK);
	if (p == NULL)
		return -1;
	memset(p, fill | 1, n - NATIVE_SLACK);
	*p = grown;
	grown = p;
	return 0;
}

// The balanced pool: NATIVE_SLOTS blocks, each replaced (freed, malloc'd anew, written)
// again and again.  A fixed mmap threshold (glibc raises it otherwise, as mmap'd blocks are
// freed) keeps every block mmap'd, so a free really returns its pages.
#define NATIVE_SLOTS 64
static void *slots[NATIVE_SLOTS];
static size_t slot_size[NATIVE_SLOTS];

static int native_pool_init(void) {
	return mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1 ? 0 : -1;
}

// native_replace frees slot i and mallocs n bytes in its place; returns the bytes freed,
// or -1 if malloc failed.
static long native_replace(int i, size_t n, int fill) {
	long freed = (long)slot_size[i];
	free(slots[i]);
	slots[i] = NULL;
	slot_size[i] = 0;
	void *p = malloc(n - NATIVE_SLACK);
	if (p == NULL)
		return -1;
	memset(p, fill | 1, n - NATIVE_SLACK);
	slots[i] = p;
	slot_size[i] = n;
	return freed;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
)

// ---- cgo-malloc: (*nativeBuffer).grow ----------------------------------------------------------

const nativeBlock = 256 * kib

// nativeBuffer is a buffer kept in C memory that only ever grows.
type nativeBuffer struct {
	blocks int
}

// grow adds n bytes (whole 256 KiB blocks) of C memory to the buffer: malloc + memset, never
// freed.  The Go heap does not see any of it.
//
//go:noinline
func (b *nativeBuffer) grow(n int) error {
	for ; n >= nativeBlock; n -= nativeBlock {
		if C.native_grow(C.size_t(nativeBlock), C.int(b.blocks)) != 0 {
			return fmt.Errorf("malloc failed after %d blocks", b.blocks)
		}
		b.blocks++
		nativeBytes.Add(nativeBlock)
	}
	return nil
}

func runCgoMalloc(c *config) {
	runtime.LockOSThread() // one thread, one malloc arena
	buf := &nativeBuffer{}
	budget := &leakBudget{max: c.maxBytes}
	go garbage(c.perSec(2), c.rng(1), nil) // a little Go garbage: the Go heap stays flat
	phase("leak-start")
	paced(constant(c.perSec(c.rateOr(1))*mib/nativeBlock), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if !budget.take(nativeBlock) {
				return false
			}
			if err := buf.grow(nativeBlock); err != nil {
				fmt.Fprintf(os.Stderr, "corpus: %v\n", err)
				os.Exit(1)
			}
		}
		return true
	})
}

// ---- cgo-balanced: (*nativePool).replace --------------------------------------------------------

const nativeSlots = 50 // of C.NATIVE_SLOTS

// nativePool holds 50 C blocks of 256 KiB-1.75 MiB (1 MiB on average: ~50 MiB in all) and
// replaces one at random, again and again.
type nativePool struct {
	fills int
}

//go:noinline
func (p *nativePool) replace(slot int, size int) error {
	p.fills++
	freed := C.native_replace(C.int(slot), C.size_t(size), C.int(p.fills))
	if freed < 0 {
		return fmt.Errorf("malloc of %d bytes failed", size)
	}
	nativeBytes.Add(int64(size) - int64(freed))
	return nil
}

func runCgoBalanced(c *config) {
	runtime.LockOSThread()
	if C.native_pool_init() != 0 {
		fmt.Fprintln(os.Stderr, "corpus: mallopt(M_MMAP_THRESHOLD) failed")
		os.Exit(1)
	}
	rng := c.rng(2)
	size := func() int { return (256 + 64*rng.Intn(25)) * kib } // 256 KiB-1.75 MiB, mean 1 MiB
	pool := &nativePool{}
	for i := 0; i < nativeSlots; i++ {
		if err := pool.replace(i, size()); err != nil {
			fmt.Fprintf(os.Stderr, "corpus: %v\n", err)
			os.Exit(1)
		}
	}
	go garbage(c.perSec(2), c.rng(1), nil)
	phase("steady", fmt.Sprintf("native_mib=%.1f", float64(nativeBytes.Value())/mib))
	// 10 replacements a second at speed 1: ~10 MiB/s malloc'd and as much freed.
	paced(constant(c.perSec(10)), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if err := pool.replace(rng.Intn(nativeSlots), size()); err != nil {
				fmt.Fprintf(os.Stderr, "corpus: %v\n", err)
				os.Exit(1)
			}
		}
		return true
	})
}
