package focusllm

/*
#include "shim.h"
*/
import "C"

import "sync/atomic"

// LogLevel is the severity of a llama.cpp log line.
type LogLevel int32

// The log levels of focusllm.h.
const (
	LogDebug LogLevel = C.FOCUSLLM_LOG_LEVEL_DEBUG
	LogInfo  LogLevel = C.FOCUSLLM_LOG_LEVEL_INFO
	LogWarn  LogLevel = C.FOCUSLLM_LOG_LEVEL_WARN
	LogError LogLevel = C.FOCUSLLM_LOG_LEVEL_ERROR
)

var logFn atomic.Pointer[func(LogLevel, string)]

// SetLogCallback sends every llama.cpp log line to fn, process-wide; nil restores the
// default (lines are dropped unless the program is Rust). fn is called from any goroutine
// or thread doing focusllm work, possibly concurrently, so it must be safe for concurrent
// use; a panic in it is recovered and the line dropped.
func SetLogCallback(fn func(level LogLevel, line string)) error {
	var message *C.char
	if fn == nil {
		logFn.Store(nil)
		if status := C.fgo_set_log_callback(false, &message); status != 0 {
			return newError(status, message)
		}
		return nil
	}
	logFn.Store(&fn)
	if status := C.fgo_set_log_callback(true, &message); status != 0 {
		return newError(status, message)
	}
	return nil
}

func deliverLog(level LogLevel, line string) {
	fn := logFn.Load()
	if fn == nil {
		return
	}
	defer func() { _ = recover() }()
	(*fn)(level, line)
}
