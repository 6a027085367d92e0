"""Every call recorded, transcribed with Vosk, and filed as a ticket.

- :mod:`~hotline12345.recordings.naming`: the file-naming convention MixMonitor follows;
- :mod:`~hotline12345.recordings.jobs`: jobs, and finding finished recordings from AMI;
- :mod:`~hotline12345.recordings.audio`: checking and normalising recordings (pydub);
- :mod:`~hotline12345.recordings.vosk_model` / :mod:`~hotline12345.recordings.transcribe`: Vosk;
- :mod:`~hotline12345.recordings.queue`: durable jobs (Redis Stream, or SQL);
- :mod:`~hotline12345.recordings.pipeline` / :mod:`~hotline12345.recordings.worker`:
  processing in forked workers; :mod:`~hotline12345.recordings.scan`: the directory scan;
- :mod:`~hotline12345.recordings.api`: failed jobs, retries, tickets, the AMI job sink.
"""
