//go:build !focusllm_shared

package focusllm

// Static linking (the default): the archive cargo builds, by path, followed by the system
// libraries it needs. This line is README.md's "Linking from C" static line; keep them equal.
// Build the archive first: cargo build --release --lib (in the repository root).

/*
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libfocusllm.a -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
*/
import "C"
