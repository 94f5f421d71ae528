/* FNV-1a 64 over a byte buffer, continuing from `state`: the inner loop of opm's cache
 * integrity digest (see ../gotar.py). Loaded with ctypes; built by ../accel.py. */
#include <stddef.h>
#include <stdint.h>

uint64_t iib_fnv1a64(const unsigned char *data, size_t length, uint64_t state) {
    for (size_t i = 0; i < length; i++) {
        state ^= data[i];
        state *= 0x100000001B3ULL;
    }
    return state;
}
