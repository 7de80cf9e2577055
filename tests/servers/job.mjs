// The job the reference servers run: one item every intervalMs up to total,
// then `complete`, or `failed` once failAfter items are done. `emit(event,
// payload)` is each server's own way to push.
export function runJob(opts, emit) {
  const total = opts.total ?? 20;
  let processed = 0;
  const timer = setInterval(() => {
    processed += 1;
    if (opts.failAfter !== undefined && processed >= opts.failAfter) {
      clearInterval(timer);
      emit("failed", { code: "E_IMPORT", processed, total });
      return;
    }
    if (processed >= total) {
      clearInterval(timer);
      emit("complete", { processed, total });
      return;
    }
    emit("progress", { processed, total });
  }, opts.intervalMs ?? 10);
}
