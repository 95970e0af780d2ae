/* Test guest library: console output, strings, time. */
#include "guest.h"

void shutdown(unsigned reason)
{
	for (;;)
		hypercall2(TG_HC_sched_op, TG_SCHEDOP_shutdown, reason);
}

size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

void mem_set(void *p, int c, size_t n)
{
	uint8_t *b = p;
	while (n--)
		*b++ = (uint8_t)c;
}

void put_str(const char *s)
{
	hypercall3(TG_HC_console_io, TG_CONSOLEIO_WRITE, str_len(s), s);
}

void put_line(const char *s)
{
	put_str(s);
	put_str("\n");
}

void put_dec(uint64_t v)
{
	char buf[24];
	int i = sizeof(buf) - 1;
	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_str(buf + i);
}

void put_sdec(long v)
{
	if (v < 0) {
		put_str("-");
		put_dec((uint64_t)-v);
	} else {
		put_dec((uint64_t)v);
	}
}

void put_hex(uint64_t v)
{
	char buf[19];
	int i = sizeof(buf) - 1;
	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	put_str(buf + i);
}

/* Finds "key=value" in a space-separated command line. */
const char *cmdline_value(const char *cmdline, const char *key, char *buf, size_t len)
{
	size_t klen = str_len(key);
	const char *p = cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *word = p;
		while (*p && *p != ' ')
			p++;
		bool match = (size_t)(p - word) > klen && word[klen] == '=';
		for (size_t i = 0; match && i < klen; i++)
			match = word[i] == key[i];
		if (match) {
			size_t n = 0;
			for (const char *v = word + klen + 1; v < p && n + 1 < len; v++)
				buf[n++] = *v;
			buf[n] = 0;
			return buf;
		}
	}
	return NULL;
}

uint64_t parse_dec(const char *s)
{
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

extern struct tg_shared_info *shared_info;

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

uint64_t system_time_ns(void)
{
	volatile struct tg_vcpu_time_info *t = &shared_info->vcpu_info[0].time;
	uint32_t version;
	uint64_t ns;
	do {
		version = t->version;
		__asm__ volatile("" ::: "memory");
		uint64_t delta = rdtsc() - t->tsc_timestamp;
		if (t->tsc_shift >= 0)
			delta <<= t->tsc_shift;
		else
			delta >>= -t->tsc_shift;
		ns = t->system_time + (uint64_t)(((unsigned __int128)delta * t->tsc_to_system_mul) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((version & 1) || version != t->version);
	return ns;
}
