//go:build !unix

package sockio

import "syscall"

// No raw descriptors here: New reads and writes through the net.Conn.
const hasRaw = false

func rawRead(fd uintptr, p []byte) (int, syscall.Errno)  { return 0, syscall.EINVAL }
func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }
