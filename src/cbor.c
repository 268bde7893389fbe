/* attex internal: CBOR helpers (in progress) */
#include <attex/error.h>
typedef int attex_placeholder_cbor;
