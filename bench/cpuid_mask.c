/* LD_PRELOAD shim for bench/as_avx2.py: the process and its children see a CPU without AVX-512,
 * VNNI (AVX-512 or AVX) or AMX, so ONNX Runtime, OpenCV, numpy and TensorFlow pick the code paths
 * they run on AVX2-only CPUs (such as AMD EPYC before Zen 4), on this machine's cores.
 *
 * Linux can make the CPUID instruction fault (arch_prctl ARCH_SET_CPUID, on CPUs with the
 * cpuid_fault flag). The SIGSEGV handler runs the real CPUID with faulting briefly off, clears the
 * hidden features' bits in its answer and steps over the instruction. The setting is reset by
 * execve, and the constructor sets it again in every program that loads this library.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_CPUID 0x1012
#define BIT(n) (1u << (n))

/* Leaf 7, sub-leaf 0. EBX: AVX512 F, DQ, IFMA, PF, ER, CD, BW, VL. ECX: AVX512 VBMI, VBMI2, VNNI,
 * BITALG, VPOPCNTDQ. EDX: AVX512 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8. */
#define HIDDEN_7_0_EBX (BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define HIDDEN_7_0_ECX (BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14))
#define HIDDEN_7_0_EDX (BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25))
/* Leaf 7, sub-leaf 1. EAX: AVX-VNNI, AVX512-BF16. */
#define HIDDEN_7_1_EAX (BIT(4) | BIT(5))

static void cpuid_faults(int on) { syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void emulate_cpuid(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)info;
    greg_t *reg = ((ucontext_t *)context)->uc_mcontext.gregs;
    const unsigned char *at = (const unsigned char *)reg[REG_RIP];
    if (at[0] != 0x0F || at[1] != 0xA2) { /* not CPUID: a real fault, which now ends the program */
        signal(SIGSEGV, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)reg[REG_RAX], sub = (unsigned)reg[REG_RCX], a, b, c, d;
    cpuid_faults(0);
    __cpuid_count(leaf, sub, a, b, c, d);
    cpuid_faults(1);
    if (leaf == 7 && sub == 0) {
        b &= ~HIDDEN_7_0_EBX;
        c &= ~HIDDEN_7_0_ECX;
        d &= ~HIDDEN_7_0_EDX;
    } else if (leaf == 7 && sub == 1) {
        a &= ~HIDDEN_7_1_EAX;
    }
    reg[REG_RAX] = a;
    reg[REG_RBX] = b;
    reg[REG_RCX] = c;
    reg[REG_RDX] = d;
    reg[REG_RIP] += 2; /* CPUID is two bytes */
}

__attribute__((constructor)) static void hide_features(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = emulate_cpuid;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &action, 0);
    cpuid_faults(1);
}
