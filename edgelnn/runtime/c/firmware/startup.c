/* Minimal Cortex-M start-up for bare-metal runs of an edgelnn C artifact (qemu-system-arm
 * mps2-an386 for Cortex-M4F, microbit for Cortex-M0/M0+), used by edgelnn's emulated golden
 * check and cycle counts and shipped in every example project.
 *
 * Vector table, .data copy and .bss clear, FPU enabled when EDGELNN_FPU is 1 (CPACR), then
 * main(); its return value leaves through semihosting SYS_EXIT (qemu exits with it).
 * edgelnn_sh() is the semihosting call (bkpt 0xab): on a real board without a debugger
 * attached, replace the output with your UART. Builds with -std=c99 -Wall -Wextra -Werror
 * -pedantic.
 */
#include <stdint.h>

#ifndef EDGELNN_FPU
#define EDGELNN_FPU 0
#endif

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
typedef void (*edgelnn_handler)(void);
void edgelnn_reset(void);
int edgelnn_sh(int op, const void *arg);
void edgelnn_exit(int code);

int edgelnn_sh(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void edgelnn_exit(int code)
{
    /* ADP_Stopped_ApplicationExit (0x20026) or ADP_Stopped_RunTimeErrorUnknown (0x20024) */
    edgelnn_sh(0x18, (const void *)(uintptr_t)(code == 0 ? 0x20026u : 0x20024u));
    for (;;) { }
}

static void fault(void)
{
    edgelnn_sh(0x04, "FAULT\n");
    edgelnn_exit(3);
}

struct edgelnn_vector_table {
    uint32_t *stack;                  /* initial stack pointer */
    edgelnn_handler handler[15];      /* reset, NMI, hard fault, ... SysTick */
};

__attribute__((section(".isr_vector"), used))
const struct edgelnn_vector_table edgelnn_vectors = {
    &_estack,
    { edgelnn_reset, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, fault }
};

void edgelnn_reset(void)
{
    uint32_t *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss; ) *d++ = 0;
#if EDGELNN_FPU
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);     /* CPACR: CP10, CP11 full access */
    __asm__ volatile ("dsb\n isb");
#endif
    edgelnn_exit(main());
}
