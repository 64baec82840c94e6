/* fork_server: an LD_PRELOAD library that lets a test run an engine's main() many times for
 * the cost of one start-up (tests/reference/test_kill_windows.py). libtorch's static
 * initialization takes ~0.3 s of CPU before main(); a forked copy of a process that has done
 * it but not yet entered main() is the state every fresh exec reaches at main().
 *
 * Off unless QK_FORK_SERVER is set when the process starts. Then, instead of main(), the
 * process serves requests read from stdin, one at a time. A request is a decimal byte count,
 * a newline, then that many bytes of NUL-terminated strings:
 *   cwd, stdout file, stderr file, argc, argv[0..argc-1], then the environment (NAME=value).
 * For each, the server replaces its environment with the request's, forks, and the child
 * chdir()s, sends stdout/stderr to the two files (created or truncated), calls
 * kill_shim_restart() when the kill shim is loaded too (its call count starts again from
 * the new environment) and runs main(). Then it flushes stdio and _exit()s with main()'s
 * value: the static destructors (libtorch's operator deregistration, ~0.15 s of CPU) are
 * skipped. The test checks that they write nothing: a run here makes as many counted calls
 * as an exec'd one. The server waits and writes one line to stdout: "exit N" or "signal N".
 * End of input ends the server (exit 0).
 *
 * Refuses (exit 70, a message on stderr) when the process already runs more than one thread
 * at main(): a fork would copy only one of them. OMP_NUM_THREADS above 1 does that: a library's
 * static initialization runs an OpenMP region and leaves its pool behind. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*main_fn)(int, char **, char **);
static main_fn g_main;
static int g_req_fd = -1, g_rep_fd = -1;

/* Threads of this process (entries of /proc/self/task), or -1. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* Reads exactly n bytes; 0 on success. */
static int read_all(int fd, char *buf, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, buf, n);
    if (got <= 0) return -1;
    buf += got;
    n -= (size_t)got;
  }
  return 0;
}

/* One request into a malloc'ed block (NUL-terminated strings) and its size; NULL at EOF. */
static char *read_request(size_t *size) {
  char line[32];
  size_t len = 0;
  while (len + 1 < sizeof line) {
    if (read(g_req_fd, line + len, 1) != 1) return NULL;
    if (line[len] == '\n') break;
    len++;
  }
  line[len] = '\0';
  *size = strtoul(line, NULL, 10);
  char *block = malloc(*size + 1);
  if (!block || read_all(g_req_fd, block, *size) != 0) exit(71);
  block[*size] = '\0';
  return block;
}

/* Splits the block into at most `max` strings; returns how many. */
static int split(char *block, size_t size, char **out, int max) {
  int n = 0;
  for (size_t i = 0; i < size && n < max; i += strlen(block + i) + 1) out[n++] = block + i;
  return n;
}

/* Opens `path` for writing (created, truncated) onto fd `target`. */
static void redirect(const char *path, int target) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) _exit(72);
  dup2(fd, target);
  close(fd);
}

/* The child: the request's cwd and output files, a fresh kill-shim count, then main(). */
static void run_child(char **field, int argc) {
  void (*restart)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "kill_shim_restart");
  int null_fd = open("/dev/null", O_RDONLY);
  close(g_req_fd);
  close(g_rep_fd);
  dup2(null_fd, 0);
  close(null_fd);
  if (chdir(field[0]) != 0) _exit(73);
  redirect(field[1], 1);
  redirect(field[2], 2);
  if (restart) restart();
  int code = g_main(argc, field + 4, environ);
  fflush(NULL);
  _exit(code);
}

/* Runs one request to its end and reports its status. */
static void serve_one(char *block, size_t size) {
  enum { kMax = 4096 };
  static char *field[kMax + 1];
  int n = split(block, size, field, kMax);
  int argc = n > 3 ? atoi(field[3]) : -1;
  if (argc < 1 || 4 + argc > n) exit(74);
  clearenv();
  for (int i = 4 + argc; i < n; i++) putenv(field[i]);
  field[4 + argc] = NULL; /* argv ends here; environ keeps its own copies of the pointers */
  pid_t pid = fork();
  if (pid == 0) run_child(field, argc);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) exit(75);
  dprintf(g_rep_fd, WIFSIGNALED(status) ? "signal %d\n" : "exit %d\n",
          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Replaces main() when QK_FORK_SERVER is set. */
static int serve(int argc, char **argv, char **envp) {
  if (!getenv("QK_FORK_SERVER")) return g_main(argc, argv, envp);
  int threads = thread_count();
  if (threads != 1) {
    fprintf(stderr,
            "fork_server: %d threads at main(), a fork copies one: refused "
            "(OMP_NUM_THREADS above 1 starts OpenMP's threads before main)\n",
            threads);
    return 70;
  }
  g_req_fd = dup(0);
  g_rep_fd = dup(1);
  for (size_t size;;) {
    char *block = read_request(&size);
    if (!block) return 0;
    serve_one(block, size);
    clearenv(); /* environ points into the block */
    free(block);
  }
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end) {
  int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *) =
      dlsym(RTLD_NEXT, "__libc_start_main");
  g_main = main;
  return real(serve, argc, argv, init, fini, rtld_fini, stack_end);
}
