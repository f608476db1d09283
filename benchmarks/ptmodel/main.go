// A model of ptexplore's page walk (one read per page per file), our
// own code: per page one 8-byte ReadAt of /proc/PID/pagemap decoded with
// binary.Read, and for present pages one each of /proc/kpagecount and
// /proc/kpageflags; output with fmt.Printf per field straight to os.Stdout
// (unbuffered, as ptexplore prints).
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var names = []string{"LOCKED", "ERROR", "REFERENCED", "UPTODATE", "DIRTY", "LRU", "ACTIVE",
	"SLAB", "WRITEBACK", "RECLAIM", "BUDDY", "MMAP", "ANON", "SWAPCACHE", "SWAPBACKED",
	"COMPOUND_HEAD", "COMPOUND_TAIL", "HUGE", "UNEVICTABLE", "HWPOISON", "NOPAGE", "KSM", "THP",
	"OFFLINE", "ZERO_PAGE", "IDLE", "PGTABLE"}

func word(f *os.File, index uint64) (uint64, error) {
	buf := make([]byte, 8)
	if _, err := f.ReadAt(buf, int64(index*8)); err != nil {
		return 0, err
	}
	var v uint64
	err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &v)
	return v, err
}

func main() {
	pid := os.Args[1]
	page := uint64(os.Getpagesize())
	maps, err := os.Open("/proc/" + pid + "/maps")
	if err != nil {
		panic(err)
	}
	pm, _ := os.Open("/proc/" + pid + "/pagemap")
	kc, _ := os.Open("/proc/kpagecount")
	kf, _ := os.Open("/proc/kpageflags")
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		r := strings.SplitN(fields[0], "-", 2)
		start, _ := strconv.ParseUint(r[0], 16, 64)
		end, _ := strconv.ParseUint(r[1], 16, 64)
		fmt.Printf("\n%s\n\n", sc.Text())
		missing := 0
		for a := start; a < end; a += page {
			e, err := word(pm, a/page)
			if err != nil {
				break
			}
			if e&(1<<63) == 0 && e&(1<<62) == 0 {
				missing++
				continue
			}
			if missing > 0 {
				fmt.Printf("... %v pages not present ...\n", missing)
				missing = 0
			}
			if e&(1<<63) != 0 {
				pfn := e & (1<<55 - 1)
				fmt.Printf("%0#16x: ", a)
				fmt.Printf("phys %0#16x ", pfn*page)
				if e&(1<<61) != 0 {
					fmt.Printf("file-page ")
				}
				if e&(1<<56) != 0 {
					fmt.Printf("exclusive ")
				}
				if e&(1<<55) != 0 {
					fmt.Printf("soft-dirty ")
				}
				count, _ := word(kc, pfn)
				fmt.Printf("count %v ", count)
				flags, _ := word(kf, pfn)
				first := true
				for b := 0; b < len(names); b++ {
					if flags&(1<<uint(b)) != 0 {
						if !first {
							fmt.Printf(",")
						}
						fmt.Printf("%s", names[b])
						first = false
					}
				}
				fmt.Printf("\n")
			} else {
				fmt.Printf("%0#16x: swap type %v offset %0#16x\n", a, e&0x1f, (e&(1<<55-1))>>5)
			}
		}
		if missing > 0 {
			fmt.Printf("... %v pages not present ...\n", missing)
		}
	}
}
