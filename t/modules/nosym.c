/* nosym.c - a shared object that exports no pf_module: loading must fail. */
int nosym_answer(void);
int nosym_answer(void)
{
	return 42;
}
