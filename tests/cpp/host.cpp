// A C++17 host of libtaskwheel with a small RAII wrapper: engines and wheels free themselves, tasks are any
// callable, and every std::function handed to the engine is destroyed exactly once (counted).
// Built by tests/tests/c_hosts.rs with g++ -std=c++17 -Wall -Wextra -Werror -pedantic, linked statically and
// dynamically. Prints "N passed, 0 failed" and exits 0 on success.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "taskwheel.h"

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char *what, int line) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "host.cpp:%d: CHECK failed: %s\n", line, what);
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

std::atomic<int> live_closures{0};

// A task closure owned by the engine: created by schedule(), destroyed by free_user_data exactly once.
struct Closure {
    std::function<int()> fn;
    explicit Closure(std::function<int()> f) : fn(std::move(f)) { ++live_closures; }
    ~Closure() { --live_closures; }
    static int run(void *self) { return static_cast<Closure *>(self)->fn(); }
    static void destroy(void *self) { delete static_cast<Closure *>(self); }
};

struct Error : std::runtime_error {
    tw_status status;
    explicit Error(tw_status s) : std::runtime_error(tw_status_str(s)), status(s) {}
};

// RAII owner of a tw_engine.
class Engine {
  public:
    explicit Engine(uint32_t workers = 2) {
        tw_config config;
        tw_config_init(&config);
        config.workers = workers;
        tw_engine *raw = nullptr;
        if (tw_status s = tw_engine_new(&config, &raw); s != TW_OK) throw Error(s);
        engine_.reset(raw);
    }

    // Schedules any callable returning int; returns the status and writes the id on success.
    tw_status schedule(std::function<int()> fn, tw_task_spec spec, tw_task_id *id = nullptr) {
        spec.run = &Closure::run;
        spec.user_data = new Closure(std::move(fn));
        spec.free_user_data = &Closure::destroy;
        return tw_schedule(engine_.get(), &spec, id);
    }

    tw_task_id after(std::chrono::nanoseconds delay, std::function<int()> fn) {
        tw_task_id id = 0;
        tw_status s = tw_schedule_after(engine_.get(), static_cast<uint64_t>(delay.count()), &Closure::run,
                                        new Closure(std::move(fn)), &Closure::destroy, &id);
        if (s != TW_OK) throw Error(s);
        return id;
    }

    tw_state wait(tw_task_id id) {
        tw_state state = TW_STATE_PENDING;
        if (tw_status s = tw_wait(engine_.get(), id, UINT64_MAX, &state); s != TW_OK) throw Error(s);
        return state;
    }

    tw_state state(tw_task_id id) {
        tw_state state = TW_STATE_PENDING;
        if (tw_status s = tw_task_state(engine_.get(), id, &state); s != TW_OK) throw Error(s);
        return state;
    }

    tw_status cancel(tw_task_id id) { return tw_cancel(engine_.get(), id); }

    tw_stats stats() {
        tw_stats stats{};
        if (tw_status s = tw_engine_stats(engine_.get(), &stats); s != TW_OK) throw Error(s);
        return stats;
    }

    tw_shutdown_report shutdown(uint32_t mode, std::chrono::nanoseconds timeout = {}) {
        tw_shutdown_report report{};
        if (tw_status s = tw_engine_shutdown(engine_.get(), mode, static_cast<uint64_t>(timeout.count()), &report);
            s != TW_OK)
            throw Error(s);
        return report;
    }

  private:
    struct Free {
        void operator()(tw_engine *e) const { tw_engine_free(e); }
    };
    std::unique_ptr<tw_engine, Free> engine_;
};

// RAII owner of a host-driven tw_wheel whose timers carry callables.
class Wheel {
  public:
    explicit Wheel(uint64_t start = 0) {
        tw_wheel *raw = nullptr;
        if (tw_status s = tw_wheel_new(start, &raw); s != TW_OK) throw Error(s);
        wheel_.reset(raw);
    }

    tw_timer_id insert(uint64_t deadline, std::function<void(uint64_t)> fn) {
        tw_timer_id id = 0;
        auto *boxed = new std::function<void(uint64_t)>(std::move(fn));
        if (tw_status s = tw_wheel_insert(wheel_.get(), deadline, boxed, &id); s != TW_OK) {
            delete boxed;
            throw Error(s);
        }
        return id;
    }

    bool cancel(tw_timer_id id) {
        void *data = nullptr;
        if (tw_wheel_cancel(wheel_.get(), id, &data) != TW_OK) return false;
        delete static_cast<std::function<void(uint64_t)> *>(data);
        return true;
    }

    tw_status advance(uint64_t now) {
        return tw_wheel_advance(
            wheel_.get(), now,
            [](void *, tw_timer_id, uint64_t deadline, void *data) {
                std::unique_ptr<std::function<void(uint64_t)>> fn(static_cast<std::function<void(uint64_t)> *>(data));
                (*fn)(deadline);
            },
            nullptr);
    }

    bool next(uint64_t *out) const { return tw_wheel_next_expiration(wheel_.get(), out) == TW_OK; }
    tw_wheel *raw() const { return wheel_.get(); }

  private:
    struct Free {
        void operator()(tw_wheel *w) const {
            tw_wheel_free(w, [](void *data) { delete static_cast<std::function<void(uint64_t)> *>(data); });
        }
    };
    std::unique_ptr<tw_wheel, Free> wheel_;
};

tw_task_spec default_spec() {
    tw_task_spec spec;
    tw_task_spec_init(&spec);
    return spec;
}

void test_engine() {
    using namespace std::chrono_literals;
    Engine engine(2);
    std::atomic<int> ran{0};

    auto one = engine.after(1ms, [&] { ++ran; return 0; });
    auto bad = engine.after(0ms, [] { return 5; });
    CHECK(engine.wait(one) == TW_STATE_SUCCEEDED);
    CHECK(engine.wait(bad) == TW_STATE_FAILED);
    CHECK(ran == 1);

    // periodic with a run limit, high priority
    auto spec = default_spec();
    spec.period_ns = 1000000;
    spec.max_runs = 4;
    spec.priority = TW_PRIORITY_HIGH;
    std::atomic<int> beats{0};
    tw_task_id periodic = 0;
    CHECK(engine.schedule([&] { ++beats; return 0; }, spec, &periodic) == TW_OK);
    CHECK(engine.wait(periodic) == TW_STATE_SUCCEEDED);
    CHECK(beats == 4);

    // cancel pending, then finished, then unknown
    auto far = engine.after(1h, [] { return 0; });
    CHECK(engine.cancel(far) == TW_OK);
    CHECK(engine.state(far) == TW_STATE_CANCELLED);
    CHECK(engine.cancel(far) == TW_ALREADY_FINISHED);
    CHECK(engine.cancel(424242) == TW_ERR_NOT_FOUND);

    // dedupe keys: the refused closure is destroyed before schedule returns
    spec = default_spec();
    spec.delay_ns = 3600000000000ull;
    spec.key = "report-7";
    tw_task_id keyed = 0;
    CHECK(engine.schedule([] { return 0; }, spec, &keyed) == TW_OK);
    int before = live_closures;
    CHECK(engine.schedule([] { return 0; }, spec) == TW_ERR_DUPLICATE_KEY);
    CHECK(live_closures == before);
    CHECK(engine.cancel(keyed) == TW_OK);

    // a task that schedules another and waits for it
    std::atomic<int> nested_ok{0};
    auto outer = engine.after(0ms, [&] {
        auto inner = engine.after(1ms, [] { return 0; });
        nested_ok = engine.wait(inner) == TW_STATE_SUCCEEDED && tw_current_task_id() != 0;
        return 0;
    });
    CHECK(engine.wait(outer) == TW_STATE_SUCCEEDED);
    CHECK(nested_ok == 1);

    // bad input from C++: invalid enum, empty key, invalid UTF-8
    spec = default_spec();
    spec.priority = 42;
    CHECK(engine.schedule([] { return 0; }, spec) == TW_ERR_INVALID_ARGUMENT);
    spec = default_spec();
    spec.key = "";
    CHECK(engine.schedule([] { return 0; }, spec) == TW_ERR_INVALID_ARGUMENT);
    spec.key = "\xc3\x28";
    CHECK(engine.schedule([] { return 0; }, spec) == TW_ERR_INVALID_UTF8);
    try {
        engine.wait(999999);
        CHECK(false);
    } catch (const Error &e) {
        CHECK(e.status == TW_ERR_NOT_FOUND);
    }

    auto stats = engine.stats();
    CHECK(stats.succeeded >= 4 && stats.failed >= 1 && stats.cancelled >= 2);

    auto pending = engine.after(1h, [] { return 0; });
    auto report = engine.shutdown(TW_SHUTDOWN_CANCEL_PENDING);
    CHECK(report.cancelled == 1);
    CHECK(engine.state(pending) == TW_STATE_CANCELLED);
    try {
        engine.after(0ms, [] { return 0; });
        CHECK(false);
    } catch (const Error &e) {
        CHECK(e.status == TW_ERR_SHUT_DOWN);
    }
}

void test_wheel() {
    Wheel wheel(0);
    std::vector<uint64_t> fired;
    uint64_t next = 0;
    CHECK(!wheel.next(&next));
    wheel.insert(64, [&](uint64_t d) { fired.push_back(d); });
    auto doomed = wheel.insert(4096, [&](uint64_t d) { fired.push_back(d); });
    wheel.insert(63, [&](uint64_t d) {
        fired.push_back(d);
        // reentrant: insert from inside the callback (fires on a later advance)
        wheel.insert(d, [&](uint64_t again) { fired.push_back(again + 1000000); });
    });
    wheel.insert(1ull << 36, [&](uint64_t d) { fired.push_back(d); });
    CHECK(wheel.next(&next) && next == 63);
    CHECK(wheel.cancel(doomed));
    CHECK(!wheel.cancel(doomed));
    CHECK(wheel.advance(64) == TW_OK);
    CHECK(fired.size() == 2 && fired[0] == 63 && fired[1] == 64);
    CHECK(wheel.advance(64) == TW_OK);
    CHECK(fired.size() == 3 && fired[2] == 1000063);
    CHECK(wheel.advance(10) == TW_ERR_INVALID_ARGUMENT);
    CHECK(tw_wheel_len(wheel.raw()) == 1);
    // the last timer (2^36 ticks) is released by the RAII destructor through tw_wheel_free
}


// Hooks from C++: a counting object as the hooks' user data, destroyed through free_hooks_user_data.
struct HookCounts {
    std::atomic<int> starts{0}, ends{0};
    static std::atomic<int> destroyed;
    static void start(void *self, const tw_run_start *) { ++static_cast<HookCounts *>(self)->starts; }
    static void end(void *self, const tw_run_end *) { ++static_cast<HookCounts *>(self)->ends; }
    static void destroy(void *self) {
        delete static_cast<HookCounts *>(self);
        ++destroyed;
    }
};
std::atomic<int> HookCounts::destroyed{0};

void test_observing() {
    auto *counts = new HookCounts;
    tw_config config;
    CHECK(tw_config_init(&config) == TW_OK);
    config.workers = 1;
    config.on_run_start = &HookCounts::start;
    config.on_run_end = &HookCounts::end;
    config.hooks_user_data = counts;
    config.free_hooks_user_data = &HookCounts::destroy;
    tw_engine *engine = nullptr;
    CHECK(tw_engine_new(&config, &engine) == TW_OK);
    int fd = -1;
    CHECK(tw_engine_completion_fd(engine, &fd) == TW_OK && fd >= 0);
    auto spec = default_spec();
    spec.run = [](void *) -> int { return 0; };
    tw_task_id id = 0;
    CHECK(tw_schedule(engine, &spec, &id) == TW_OK);
    tw_state state = TW_STATE_PENDING;
    CHECK(tw_wait(engine, id, UINT64_MAX, &state) == TW_OK && state == TW_STATE_SUCCEEDED);
    CHECK(counts->starts == 1 && counts->ends == 1);
    // Metrics text: ask for the size, then fill a std::string of it.
    size_t needed = 0;
    CHECK(tw_engine_metrics(engine, nullptr, 0, &needed) == TW_ERR_BUFFER_TOO_SMALL && needed > 0);
    std::string text(needed, '\0');
    CHECK(tw_engine_metrics(engine, text.data(), text.size(), &needed) == TW_OK);
    CHECK(text.find("taskwheel_") != std::string::npos);
    tw_engine_free(engine);
    CHECK(HookCounts::destroyed == 1);

    // The host-driven wheel's queries.
    tw_wheel *wheel = nullptr;
    CHECK(tw_wheel_new(5, &wheel) == TW_OK);
    uint64_t now = 0, deadline = 0, timeout = 0;
    void *data = nullptr;
    CHECK(tw_wheel_now(wheel, &now) == TW_OK && now == 5);
    int marker = 0;
    tw_timer_id timer = 0;
    CHECK(tw_wheel_insert(wheel, 12, &marker, &timer) == TW_OK);
    CHECK(tw_wheel_timer(wheel, timer, &deadline, &data) == TW_OK && deadline == 12 && data == &marker);
    CHECK(tw_wheel_timeout(wheel, &timeout) == TW_OK && timeout == 7);
    tw_wheel_free(wheel, nullptr);
}

// Durable tasks from C++, against the Redis the test harness started (TW_REDIS_URL); a lambda as the handler.
void test_durable() {
    const char *url = std::getenv("TW_REDIS_URL");
    if (url == nullptr) {
        std::fprintf(stderr, "\n*** durable: SKIPPED (TW_REDIS_URL unset) ***\n\n");
        const char *require = std::getenv("TW_REQUIRE_REDIS");
        CHECK(require == nullptr || std::string(require) != "1");
        return;
    }
    using Handler = std::function<int(const uint8_t *, size_t)>;
    std::atomic<int> ran{0};
    auto *handler = new Handler([&](const uint8_t *, size_t len) { ++ran; return len == 3 ? 0 : 1; });
    tw_durable_node_builder *builder = nullptr;
    CHECK(tw_durable_node_builder_new(url, "cpp-host", &builder) == TW_OK);
    CHECK(tw_durable_node_builder_handler(
              builder, "cpp",
              [](void *self, const uint8_t *payload, size_t len) -> int32_t {
                  return (*static_cast<Handler *>(self))(payload, len);
              },
              handler, [](void *self) { delete static_cast<Handler *>(self); }) == TW_OK);
    tw_durable_node *node = nullptr;
    CHECK(tw_durable_node_start(builder, &node) == TW_OK);
    tw_durable_queue *queue = nullptr;
    CHECK(tw_durable_queue_connect(url, "cpp-host", &queue) == TW_OK);
    tw_durable_task_spec spec;
    CHECK(tw_durable_task_spec_init(&spec) == TW_OK);
    spec.handler = "cpp";
    spec.payload = reinterpret_cast<const uint8_t *>("abc");
    spec.payload_len = 3;
    uint64_t id = 0;
    CHECK(tw_durable_submit(queue, &spec, &id, nullptr) == TW_OK);
    tw_durable_task_state state = TW_DURABLE_PENDING;
    for (int i = 0; i < 3000 && state < TW_DURABLE_SUCCEEDED; i++) {
        if (tw_durable_state(queue, id, &state) != TW_OK) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(state == TW_DURABLE_SUCCEEDED);
    CHECK(ran == 1);
    CHECK(tw_durable_node_shutdown(node) == TW_OK);
    tw_durable_queue_free(queue);
}

}  // namespace

int main() {
    try {
        test_engine();
        test_wheel();
        test_observing();
        test_durable();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        ++failed;
    }
    CHECK(live_closures == 0);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
