-- Request counts per caller and one-minute window, shared by every worker.
CREATE TABLE rate_counts (
    caller TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (caller, window_start)
);
CREATE INDEX rate_counts_window ON rate_counts(window_start);
