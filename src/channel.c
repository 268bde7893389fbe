/* attex: attested channel (in progress) */
#include <attex/error.h>
typedef int attex_placeholder_channel;
