#!/bin/sh
# SLURM TaskProlog: a line starting with "print " goes to the task's standard output, i.e. the
# job's log file. Records which GPU SLURM gave the task, as the rule's process will see it.
echo "print leukoflow-task-env SLURM_JOB_ID=${SLURM_JOB_ID:-} SLURM_JOB_GPUS=${SLURM_JOB_GPUS:-} CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}"
