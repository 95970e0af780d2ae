// Writes to address 0: the kernel must kill it with SIGSEGV and carry on.
int main(void)
{
	*(volatile int *)0 = 1;
	return 0;
}
