//go:build focusllm_static

package focusllm

// Static linking (go build -tags focusllm_static): libfocusllm.a and the system libraries it
// needs (focusllm.pc's Libs.private). The linker takes the archive for -lfocusllm only when no
// shared libfocusllm sits beside it: install with scripts/install.sh --static-only.

/*
#cgo pkg-config: --static focusllm
*/
import "C"
