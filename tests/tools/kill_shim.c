/* kill_shim: an LD_PRELOAD library that counts the mutating file system calls made on
 * files whose path holds a given substring, and kills the process with SIGKILL right
 * before the K-th of them (tests/reference/test_kill_windows.py).
 *
 * Counted calls: write, pwrite(64), writev, pwritev(64)(2), fsync, fdatasync, ftruncate(64)
 * (on an fd whose /proc/self/fd link holds the substring), rename, renameat(2) (either
 * path), unlink, unlinkat. Nothing else is changed; calls on other files (stdout, stderr,
 * pipes) pass through uncounted.
 *
 * Environment:
 *   QK_KILL_MATCH       substring of the path (absolute, as /proc/self/fd shows it);
 *                       unset or empty: the shim does nothing
 *   QK_KILL_AT=K        raise(SIGKILL) immediately before the K-th matching call (1-based)
 *   QK_KILL_COUNT_FILE  file that holds the number of matching calls made so far, rewritten
 *                       after each one (so it is the total after a normal exit or _exit)
 *
 * A process that replaces itself by execv/execve (build/qkgeom runs qkgeom-engine so) goes
 * on counting in the new image: the count so far travels in QK_KILL_COUNT_BASE.
 *
 * The fd's path is read from /proc/self/fd on every call, not cached: a rename or an fd
 * number reused after close() would make a cache stale, and the readlink costs about a
 * microsecond. */
#undef _FILE_OFFSET_BITS /* pwrite and pwrite64 stay two functions */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_count;
static int g_count_fd = -1;

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);

/* The real libc function `name` (the next definition after this library). */
static void *next_fn(const char *name) {
  void *fn = dlsym(RTLD_NEXT, name);
  if (!fn) {
    fprintf(stderr, "kill_shim: dlsym(%s) failed\n", name);
    abort();
  }
  return fn;
}

static const char *match_text(void) {
  const char *m = getenv("QK_KILL_MATCH");
  return (m && *m) ? m : NULL;
}

/* Absolute path of `path` relative to directory fd `dirfd` (AT_FDCWD: the cwd) in out. */
static void resolve_at(int dirfd, const char *path, char *out, size_t n) {
  char dir[PATH_MAX];
  ssize_t len = -1;
  if (path[0] == '/') {
    snprintf(out, n, "%s", path);
    return;
  }
  if (dirfd == AT_FDCWD) {
    len = getcwd(dir, sizeof dir) ? (ssize_t)strlen(dir) : -1;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    len = readlink(link, dir, sizeof dir - 1);
  }
  if (len < 0) len = 0;
  dir[len] = '\0';
  snprintf(out, n, "%s/%s", dir, path);
}

static int path_matches(int dirfd, const char *path) {
  const char *m = match_text();
  char abs[2 * PATH_MAX];
  if (!m || !path) return 0;
  resolve_at(dirfd, path, abs, sizeof abs);
  return strstr(abs, m) != NULL;
}

static int fd_matches(int fd) {
  const char *m = match_text();
  char link[64], target[PATH_MAX];
  ssize_t len;
  if (!m || fd < 0) return 0;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  len = readlink(link, target, sizeof target - 1);
  if (len < 0) return 0;
  target[len] = '\0';
  return strstr(target, m) != NULL;
}

/* Rewrites the count file (when open) with g_count; the caller holds g_lock. */
static void write_count(void) {
  char text[32];
  int len = snprintf(text, sizeof text, "%20lu\n", g_count);
  if (g_count_fd >= 0) (void)!real_pwrite(g_count_fd, text, (size_t)len, 0);
}

/* Starts from QK_KILL_COUNT_BASE (the calls of the image this one replaced, else 0), opens
 * QK_KILL_COUNT_FILE and writes the count into it, so that a run without a matching call
 * leaves a count too. Also called by tests/tools/fork_server.c in each forked run, after it
 * has set that run's environment. */
void kill_shim_restart(void) {
  const char *path = getenv("QK_KILL_COUNT_FILE");
  const char *base = getenv("QK_KILL_COUNT_BASE");
  if (g_count_fd >= 0) close(g_count_fd);
  g_count_fd = -1;
  g_count = (base && *base) ? strtoul(base, NULL, 10) : 0;
  if (!path || !*path) return;
  g_count_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  write_count();
}

__attribute__((constructor)) static void init_count(void) {
  real_pwrite = next_fn("pwrite");
  kill_shim_restart();
}

/* execv/execve: the new image goes on from this one's count. */
static void pass_count(void) {
  char text[32];
  snprintf(text, sizeof text, "%lu", g_count);
  setenv("QK_KILL_COUNT_BASE", text, 1);
}

int execv(const char *path, char *const argv[]) {
  static int (*real)(const char *, char *const[]);
  if (!real) real = next_fn("execv");
  pass_count();
  return real(path, argv);
}

int execve(const char *path, char *const argv[], char *const envp[]) {
  static int (*real)(const char *, char *const[], char *const[]);
  if (!real) real = next_fn("execve");
  if (envp != environ) return real(path, argv, envp); /* an explicit environment stays */
  pass_count();
  return real(path, argv, environ); /* setenv may have moved it */
}

/* Records one matching call: kills the process when it is the QK_KILL_AT-th, otherwise
 * counts it and rewrites the count file. Called before the real call. */
static void on_match(void) {
  const char *at = getenv("QK_KILL_AT");
  int saved = errno;
  pthread_mutex_lock(&g_lock);
  if (at && *at && g_count + 1 == strtoul(at, NULL, 10)) raise(SIGKILL);
  g_count++;
  write_count();
  pthread_mutex_unlock(&g_lock);
  errno = saved;
}

/* Defines `ret name(params)` that counts a call on fd `fd` and forwards `args`. */
#define FD_CALL(ret, name, params, args) \
  ret name params {                      \
    static ret(*real) params;            \
    if (!real) real = next_fn(#name);    \
    if (fd_matches(fd)) on_match();      \
    return real args;                    \
  }

FD_CALL(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
FD_CALL(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off))
FD_CALL(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off), (fd, buf, n, off))
FD_CALL(ssize_t, writev, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))
FD_CALL(ssize_t, pwritev, (int fd, const struct iovec *iov, int cnt, off_t off), (fd, iov, cnt, off))
FD_CALL(ssize_t, pwritev64, (int fd, const struct iovec *iov, int cnt, off64_t off), (fd, iov, cnt, off))
FD_CALL(ssize_t, pwritev2, (int fd, const struct iovec *iov, int cnt, off_t off, int fl),
        (fd, iov, cnt, off, fl))
FD_CALL(ssize_t, pwritev64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int fl),
        (fd, iov, cnt, off, fl))
FD_CALL(int, fsync, (int fd), (fd))
FD_CALL(int, fdatasync, (int fd), (fd))
FD_CALL(int, ftruncate, (int fd, off_t len), (fd, len))
FD_CALL(int, ftruncate64, (int fd, off64_t len), (fd, len))

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) real = next_fn("rename");
  if (path_matches(AT_FDCWD, from) || path_matches(AT_FDCWD, to)) on_match();
  return real(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
  static int (*real)(int, const char *, int, const char *);
  if (!real) real = next_fn("renameat");
  if (path_matches(fromfd, from) || path_matches(tofd, to)) on_match();
  return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags) {
  static int (*real)(int, const char *, int, const char *, unsigned);
  if (!real) real = next_fn("renameat2");
  if (path_matches(fromfd, from) || path_matches(tofd, to)) on_match();
  return real(fromfd, from, tofd, to, flags);
}

int unlink(const char *path) {
  static int (*real)(const char *);
  if (!real) real = next_fn("unlink");
  if (path_matches(AT_FDCWD, path)) on_match();
  return real(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
  static int (*real)(int, const char *, int);
  if (!real) real = next_fn("unlinkat");
  if (path_matches(dirfd, path)) on_match();
  return real(dirfd, path, flags);
}
