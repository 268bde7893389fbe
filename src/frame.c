/* attex: shim frames (in progress) */
#include <attex/error.h>
typedef int attex_placeholder_frame;
