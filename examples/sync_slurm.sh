#!/bin/bash
# Mirror a CentrePoint study's day files with a Slurm job array: one shard per array task,
# every task writing into one shared directory, one Redis rate limiter keeping them all under
# the API's 500 requests a minute (CentrePoint counts per IP address).
#
#   sbatch --export=ALL,STUDY_ID=1064,MIRROR_DIR=/scratch/study-1064,REDIS_URL=redis://login1:6379/0 \
#       examples/sync_slurm.sh
#
# Task K of N takes the subjects whose id modulo N is K, so the array must run 0 to N-1 (no
# step): change --array to choose N. Credentials come from the environment
# (CENTREPOINT_CLIENT_ID, CENTREPOINT_CLIENT_SECRET). Run it again (from cron, or after a
# failed task) and each shard fetches only what is missing or changed: finished files are
# never fetched again, interrupted ones are continued. How to choose N: docs/mirror.md.
#SBATCH --job-name=centrepoint-sync
#SBATCH --array=0-3
#SBATCH --cpus-per-task=1
#SBATCH --mem=512M
#SBATCH --time=24:00:00
#SBATCH --output=centrepoint-sync-%A_%a.log

set -euo pipefail

: "${STUDY_ID:?set STUDY_ID to the study to mirror}"
: "${MIRROR_DIR:?set MIRROR_DIR to the shared directory of the mirror}"
: "${REDIS_URL:?set REDIS_URL to a Redis every task can reach (redis://host:6379/0)}"
shards="${SLURM_ARRAY_TASK_COUNT:?submit this script as a job array (sbatch --array=0-3)}"
shard="${SLURM_ARRAY_TASK_ID}"

# exit 0: every file of this shard in place; 1: some failed (named in the log); 2: usage
exec centrepoint-async sync \
    --study-id "$STUDY_ID" \
    -o "$MIRROR_DIR" \
    --category raw-accelerometer \
    --shard "$shard/$shards" \
    --rate-limit-url "$REDIS_URL"
