/* A tiny trace collector for the tests: the hook Intel VTune and NVIDIA Nsight Systems use.
 *
 * ITT: the static ITT layer inside a program (PyTorch bundles one) loads the library named by
 * INTEL_LIBITTNOTIFY64 and, as that library exports __itt_api_init, hands it its function
 * table to fill (as the ITT API's reference collector, src/ittnotify_refcol, does).
 * NVTX: the NVTX headers load the library named by NVTX_INJECTION64_PATH and call its
 * InitializeInjectionNvtx2, which fills the CORE2 (domain) function table.
 *
 * Every range begin and end is appended to the file named by ZENOPT_TRACE_LOG, one line each:
 *   <api> B <pid> <tid> <domain> <name>      <api> E <pid> <tid> <domain>
 * (other libraries in the process use the same hook: oneDNN, inside PyTorch, opens an ITT task
 * per primitive it runs, in its own domain).
 * Build: cc -shared -fPIC -O1 -o libtrace_collector.so trace_collector.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int log_fd = -1;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void open_log(void)
{
    const char* path = getenv("ZENOPT_TRACE_LOG");
    if (path != NULL)
        log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
}

static void record(const char* api, char kind, const char* domain, const char* name)
{
    char line[1024];
    int n;
    pthread_once(&log_once, open_log);
    if (log_fd < 0)
        return;
    n = snprintf(line, sizeof line, "%s %c %d %ld %s %s\n", api, kind, (int)getpid(),
                 (long)syscall(SYS_gettid), domain ? domain : "-", name ? name : "");
    if (n < 0)
        return;
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    if (write(log_fd, line, (size_t)n) < 0) { /* nothing to do: a test reads what is there */ }
}

/* ---- ITT ---------------------------------------------------------------------------- */

typedef struct itt_domain {
    volatile int flags;  /* the static layer calls task_begin only when this is non-zero */
    const char* nameA;
    void* nameW;
    int extra1;
    void* extra2;
    struct itt_domain* next;
} itt_domain;

typedef struct itt_string_handle {
    const char* strA;
    void* strW;
    int extra1;
    void* extra2;
    struct itt_string_handle* next;
} itt_string_handle;

typedef struct { unsigned long long d1, d2, d3; } itt_id;

typedef struct {
    const char* name;
    void** func_ptr;
    void* init_func;
    void* null_func;
    int group;
} itt_api_info;

#pragma pack(push, 8)
typedef struct {  /* the head of ittnotify_config.h's __itt_global, up to the function table */
    unsigned char magic[8];
    unsigned long version_major;
    unsigned long version_minor;
    unsigned long version_build;
    volatile long api_initialized;
    volatile long mutex_initialized;
    volatile long atomic_counter;
    pthread_mutex_t mutex;
    void* lib;
    void* error_handler;
    const char** dll_path_ptr;
    itt_api_info* api_list_ptr;
} itt_global;
#pragma pack(pop)

static const unsigned char itt_magic[8] = {0xED, 0xAB, 0xAB, 0xEC, 0x0D, 0xEE, 0xDA, 0x30};

/* Domains and string handles are made once per name (PyTorch asks for a handle at every
 * push) and live as long as the process, as the ITT API defines them. */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static itt_domain* domains;
static itt_string_handle* handles;

itt_domain* __itt_domain_create(const char* name)
{
    itt_domain* d;
    const char* key = name ? name : "";
    pthread_mutex_lock(&names_lock);
    for (d = domains; d != NULL && strcmp(d->nameA, key) != 0; d = d->next) {}
    if (d == NULL && (d = calloc(1, sizeof *d)) != NULL) {
        d->flags = 1;
        d->nameA = strdup(key);
        if (d->nameA == NULL) {
            free(d);
            d = NULL;
        } else {
            d->next = domains;
            domains = d;
        }
    }
    pthread_mutex_unlock(&names_lock);
    return d;  /* NULL (out of memory): the static layer then skips the task */
}

itt_string_handle* __itt_string_handle_create(const char* name)
{
    itt_string_handle* h;
    const char* key = name ? name : "";
    pthread_mutex_lock(&names_lock);
    for (h = handles; h != NULL && strcmp(h->strA, key) != 0; h = h->next) {}
    if (h == NULL && (h = calloc(1, sizeof *h)) != NULL) {
        h->strA = strdup(key);
        if (h->strA == NULL) {
            free(h);
            h = NULL;
        } else {
            h->next = handles;
            handles = h;
        }
    }
    pthread_mutex_unlock(&names_lock);
    return h;
}

void __itt_task_begin(const itt_domain* domain, itt_id id, itt_id parent, itt_string_handle* name)
{
    (void)id; (void)parent;
    record("itt", 'B', domain ? domain->nameA : NULL, name ? name->strA : "");
}

void __itt_task_end(const itt_domain* domain)
{
    record("itt", 'E', domain ? domain->nameA : NULL, NULL);
}

void __itt_api_init(itt_global* global, int init_groups)
{
    static const char* mine[] = {"__itt_domain_create", "__itt_string_handle_create",
                                 "__itt_task_begin", "__itt_task_end", NULL};
    int i, j;
    (void)init_groups;
    if (global == NULL || memcmp(global->magic, itt_magic, sizeof itt_magic) != 0)
        return;
    for (i = 0; global->api_list_ptr[i].name != NULL; i++) {
        void* fn = NULL;
        for (j = 0; mine[j] != NULL; j++)
            if (strcmp(global->api_list_ptr[i].name, mine[j]) == 0)
                fn = dlsym(global->lib, mine[j]);
        *global->api_list_ptr[i].func_ptr = fn ? fn : global->api_list_ptr[i].null_func;
    }
    global->api_initialized = 1;
}

/* ---- NVTX --------------------------------------------------------------------------- */

typedef void (*nvtx_fn)(void);
typedef nvtx_fn** nvtx_table;
typedef struct {
    size_t struct_size;
    int (*GetModuleFunctionTable)(int module, nvtx_table* out_table, unsigned int* out_size);
} nvtx_callbacks;
typedef const void* (*nvtx_export_table_fn)(uint32_t id);

typedef struct {
    uint16_t version;
    uint16_t size;
    uint32_t category;
    int32_t colorType;
    uint32_t color;
    int32_t payloadType;
    int32_t reserved0;
    uint64_t payload;
    int32_t messageType;  /* 1: ASCII, 3: a registered string */
    const void* message;
} nvtx_attributes;

enum { NVTX_ETID_CALLBACKS = 1, NVTX_CB_MODULE_CORE2 = 5 };
enum {
    CORE2_DomainRangePushEx = 4, CORE2_DomainRangePop = 5, CORE2_DomainRegisterStringA = 10,
    CORE2_DomainCreateA = 12, CORE2_DomainDestroy = 14
};

/* A domain handle and a registered string are the name itself (NULL if out of memory: the
 * range is then logged without it). */
static void* nvtx_domain_create(const char* name) { return strdup(name ? name : ""); }
static void nvtx_domain_destroy(void* domain) { (void)domain; }
static const void* nvtx_register_string(void* domain, const char* text)
{
    (void)domain;
    return strdup(text ? text : "");
}

static int nvtx_push(void* domain, const nvtx_attributes* attributes)
{
    char name[512];
    const char* text = "";
    if (attributes != NULL && (attributes->messageType == 1 || attributes->messageType == 3))
        text = attributes->message ? (const char*)attributes->message : "";
    snprintf(name, sizeof name, "%s", text);
    record("nvtx", 'B', (const char*)domain, name);
    return 0;
}

static int nvtx_pop(void* domain)
{
    record("nvtx", 'E', (const char*)domain, NULL);
    return 0;
}

int InitializeInjectionNvtx2(nvtx_export_table_fn get_export_table)
{
    const nvtx_callbacks* callbacks = get_export_table(NVTX_ETID_CALLBACKS);
    nvtx_table table = NULL;
    unsigned int size = 0;
    if (callbacks == NULL || callbacks->struct_size < sizeof *callbacks
        || !callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &table, &size))
        return 0;
    if (size <= CORE2_DomainDestroy)
        return 0;
    *table[CORE2_DomainCreateA] = (nvtx_fn)nvtx_domain_create;
    *table[CORE2_DomainDestroy] = (nvtx_fn)nvtx_domain_destroy;
    *table[CORE2_DomainRegisterStringA] = (nvtx_fn)nvtx_register_string;
    *table[CORE2_DomainRangePushEx] = (nvtx_fn)nvtx_push;
    *table[CORE2_DomainRangePop] = (nvtx_fn)nvtx_pop;
    return 1;
}
