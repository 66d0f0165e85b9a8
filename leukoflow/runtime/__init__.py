"""What a workflow job needs around its library call.

job   logging into the rule's log, thread limits, the one-line error (`job.run`)
gpu   one GPU per local GPU job, and the allocation line in the log
"""
