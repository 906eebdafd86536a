/* minimal Cortex-M startup: vector table, .data/.bss init, FPU on, main, semihosting exit */
#include <stdint.h>
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
void edgelnn_reset(void);
int edgelnn_sh(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
void edgelnn_exit(int code)
{
    edgelnn_sh(0x18, (const void *)(code == 0 ? 0x20026 : 0x20024));
    for (;;) { }
}
static void fault(void) { edgelnn_sh(0x04, "FAULT\n"); edgelnn_exit(3); }
__attribute__((section(".isr_vector"), used))
const void *const edgelnn_vectors[16] = {
    &_estack, (const void *)edgelnn_reset, (const void *)fault, (const void *)fault,
    (const void *)fault, (const void *)fault, (const void *)fault, 0, 0, 0, 0,
    (const void *)fault, (const void *)fault, 0, (const void *)fault, (const void *)fault
};
void edgelnn_reset(void)
{
    uint32_t *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss; ) *d++ = 0;
#if EDGELNN_FPU
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
    __asm__ volatile ("dsb\n isb");
#endif
    edgelnn_exit(main());
}
