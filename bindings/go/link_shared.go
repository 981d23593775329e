//go:build !focusllm_static

package focusllm

// Shared linking (the default): the installed libfocusllm (scripts/install.sh in the
// repository root), found through pkg-config: PKG_CONFIG_PATH=<prefix>/lib/pkgconfig when the
// prefix is not a system one. focusllm.pc carries an rpath to its lib folder (unless installed
// with --no-rpath or into /usr), so the program finds the library at run time too.

/*
#cgo pkg-config: focusllm
*/
import "C"
