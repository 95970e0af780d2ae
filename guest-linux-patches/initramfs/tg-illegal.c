// Executes ud2: the kernel must kill it with SIGILL and carry on.
int main(void)
{
	__asm__ volatile("ud2");
	return 0;
}
