/* The header of the CFocusLLM module: the installed focusllm.h, found on the include path
 * that pkg-config gives (`pkg-config --cflags focusllm`), so the module map names no path
 * outside this package. */
#include <focusllm.h>
