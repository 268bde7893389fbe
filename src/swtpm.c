/*
 * attex_tpm: start and stop a swtpm (software TPM 2.0) process for tests
 * and demos (docs/tpm.md).
 *
 *   swtpm socket --tpm2 --server type=tcp,port=P,bindaddr=127.0.0.1
 *         --ctrl type=tcp,port=P+1,bindaddr=127.0.0.1 --tpmstate dir=D
 *         --flags not-need-init,startup-clear
 *
 * P is a free loopback port (P+1 free too), D a new temporary directory.
 * The child gets PR_SET_PDEATHSIG so that it never outlives a crashed test.
 */
/* P_tmpdir (XSI): the system temporary directory when TMPDIR is unset. */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <attex/tpm.h>

#include "internal.h"

struct attex_swtpm {
    pid_t pid;
    int port;
    char dir[512];
    char tcti[96];
};

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* bind_port binds a loopback TCP socket to `port` (0: any); returns the fd and the port. */
static int bind_port(int port, int *out_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(sa.sin_port);
    return fd;
}

/* free_port_pair finds P such that P and P+1 are free on loopback (now). */
static int free_port_pair(void)
{
    for (int i = 0; i < 50; i++) {
        int p = 0, q = 0;
        int a = bind_port(0, &p);
        if (a < 0)
            continue;
        int b = p < 65535 ? bind_port(p + 1, &q) : -1;
        close(a);
        if (b >= 0) {
            close(b);
            return p;
        }
    }
    return 0;
}

static int connects(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        char path[1024];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* log_tail copies the end of swtpm's log into out, for an error message. */
static void log_tail(const char *dir, char *out, size_t out_size)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/swtpm.log", dir);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char buf[256];
    size_t n = 0;
    if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
        rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    size_t keep = n < out_size - 1 ? n : out_size - 1;
    memcpy(out, buf + (n - keep), keep); /* the end: the last words are the reason */
    out[keep] = '\0';
}

static void kill_child(pid_t pid)
{
    int status;
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    kill(pid, SIGCONT); /* a paused swtpm must run to act on SIGTERM */
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

/* spawn starts swtpm on port p; 1 when it answers, 0 when it exited, -1 on timeout/error. */
static int spawn(attex_swtpm *s, int p, long deadline, char *why, size_t why_size)
{
    char server[96], ctrl[96], state[600], logpath[600];
    snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
    snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
    snprintf(state, sizeof(state), "dir=%s", s->dir);
    snprintf(logpath, sizeof(logpath), "%s/swtpm.log", s->dir);
    char *argv[] = {"swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
                    "--tpmstate", state, "--flags", "not-need-init,startup-clear", NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Child: die with the parent; stdout and stderr to the log; no stdin. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (nul >= 0)
            dup2(nul, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        execvp("swtpm", argv);
        _exit(127);
    }
    s->pid = pid;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            s->pid = 0;
            char tail[200];
            log_tail(s->dir, tail, sizeof(tail));
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                snprintf(why, why_size, "swtpm could not be run: is it installed and on PATH "
                                        "(Debian package swtpm)? %s",
                         tail);
            else
                snprintf(why, why_size, "swtpm exited at start-up: %s", tail);
            return 0;
        }
        if (connects(p) && connects(p + 1))
            return 1;
        if (now_ms() > deadline) {
            snprintf(why, why_size, "swtpm did not answer on port %d in time", p);
            return -1;
        }
        sleep_ms(10);
    }
}

int attex_swtpm_start(unsigned timeout_ms, attex_swtpm **out, attex_error *err)
{
    if (out == NULL)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_swtpm_start needs an output");
    *out = NULL;
    long deadline = now_ms() + (timeout_ms ? (long)timeout_ms : 10000);
    attex_swtpm *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return attex_fail(err, ATTEX_ERR_NO_MEMORY, ATTEX_ALERT_INTERNAL_ERROR, "out of memory");
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof(s->dir), "%s/attex-swtpm-XXXXXX", tmp && tmp[0] ? tmp : P_tmpdir);
    if (mkdtemp(s->dir) == NULL) {
        int e = errno;
        free(s);
        return attex_fail(err, ATTEX_ERR_IO, ATTEX_ALERT_NONE,
                          "cannot create a temporary directory for the swtpm state: %s",
                          strerror(e));
    }
    char why[400] = "no free loopback port pair";
    /* A port found free may be taken before swtpm binds it: then try other ports. */
    for (int attempt = 0; attempt < 5 && now_ms() <= deadline; attempt++) {
        int p = free_port_pair();
        if (p == 0)
            break;
        int r = spawn(s, p, deadline, why, sizeof(why));
        if (r == 1) {
            s->port = p;
            snprintf(s->tcti, sizeof(s->tcti), "swtpm:host=127.0.0.1,port=%d", p);
            *out = s;
            return ATTEX_OK;
        }
        kill_child(s->pid);
        s->pid = 0;
        if (r < 0 || strstr(why, "could not be run") != NULL)
            break;
    }
    remove_dir(s->dir);
    free(s);
    return attex_fail(err, ATTEX_ERR_UNAVAILABLE, ATTEX_ALERT_NONE,
                      "cannot start swtpm: %s", why);
}

const char *attex_swtpm_tcti(const attex_swtpm *s)
{
    return s != NULL ? s->tcti : NULL;
}

int attex_swtpm_pause(attex_swtpm *s, int paused, attex_error *err)
{
    if (s == NULL || s->pid <= 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "attex_swtpm_pause needs a running swtpm");
    if (kill(s->pid, paused ? SIGSTOP : SIGCONT) != 0)
        return attex_fail(err, ATTEX_ERR_INVALID_ARGUMENT, ATTEX_ALERT_NONE,
                          "cannot signal swtpm (pid %ld): %s", (long)s->pid, strerror(errno));
    return ATTEX_OK;
}

void attex_swtpm_stop(attex_swtpm *s)
{
    if (s == NULL)
        return;
    kill_child(s->pid);
    remove_dir(s->dir);
    free(s);
}
