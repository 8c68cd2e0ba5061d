package models

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// fileStamp is what changes whenever a file's content may have: device,
// inode, size, mtime and ctime (ns).
func fileStamp(st os.FileInfo) (string, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d:%d:%d:%d", s.Dev, s.Ino, s.Size, s.Mtim.Nano(), s.Ctim.Nano()), true
}

// changedSince reports whether st's mtime or ctime is at or after t.
func changedSince(st os.FileInfo, t time.Time) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	return !time.Unix(0, s.Mtim.Nano()).Before(t) || !time.Unix(0, s.Ctim.Nano()).Before(t)
}
