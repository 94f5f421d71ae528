/* FNV-1a 64, continuing from `state`: the inner loop of opm's cache integrity digest (see
 * ../gotar.py), over a byte buffer or over a whole tar stream of buffers and files. Loaded with
 * ctypes, which releases the GIL around each call; built by ../accel.py. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

uint64_t iib_fnv1a64(const unsigned char *data, size_t length, uint64_t state) {
    for (size_t i = 0; i < length; i++) {
        state ^= data[i];
        state *= 0x100000001B3ULL;
    }
    return state;
}

/* Hash what `fd` yields, reading at most `limit` + 1 bytes (one more than announced is enough
 * to know the size differs). `*count` receives the number of bytes hashed, or -1 (errno set)
 * when a read fails. */
static uint64_t hash_fd(int fd, uint64_t state, long long limit, long long *count) {
    unsigned char buffer[1 << 16];
    long long total = 0;
    while (total <= limit) {
        long long want = limit + 1 - total;
        ssize_t got = read(fd, buffer, want < (long long)sizeof buffer ? (size_t)want : sizeof buffer);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            *count = -1;
            return state;
        }
        if (got == 0)
            break;
        state = iib_fnv1a64(buffer, (size_t)got, state);
        total += got;
    }
    *count = total;
    return state;
}

/* Hash a whole tar stream in one call (no GIL needed between its pieces): piece i is
 * `lengths[i]` bytes at `data[i]` when `paths[i]` is 0, else the content of the regular file
 * named by the NUL-terminated `data[i]` (symlinks are refused), which must be exactly
 * `lengths[i]` bytes long. On a failure `*failed` receives i + 1 (errno set when opening or
 * reading failed; a size mismatch leaves errno 0). */
uint64_t iib_fnv1a64_pieces(size_t count, const unsigned char *const *data,
                            const long long *lengths, const unsigned char *paths, uint64_t state,
                            long long *failed) {
    *failed = 0;
    for (size_t i = 0; i < count; i++) {
        if (!paths[i]) {
            state = iib_fnv1a64(data[i], (size_t)lengths[i], state);
            continue;
        }
        int fd = open((const char *)data[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            *failed = (long long)i + 1;
            return state;
        }
        long long got = 0;
        state = hash_fd(fd, state, lengths[i], &got);
        int saved = errno;
        close(fd);
        if (got != lengths[i]) {
            errno = got < 0 ? saved : 0;
            *failed = (long long)i + 1;
            return state;
        }
    }
    return state;
}
