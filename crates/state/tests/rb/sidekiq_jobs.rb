# Sidekiq 6 against a Redis server: Sidekiq::Client pushes jobs (one scheduled
# with perform_in), a real `sidekiq` worker process runs them, the API sees the
# process, the stats and the retry set.
#
# Usage: ruby sidekiq_jobs.rb PORT   (exit 0 = all good)
require "sidekiq"
require "sidekiq/api"
require_relative "fw_job"

port = Integer(ARGV[0])
url = "redis://127.0.0.1:#{port}/0"
Sidekiq.configure_client { |c| c.redis = { url: url } }

def check(cond, what)
  raise "check failed: #{what}" unless cond
end

Sidekiq.redis(&:flushdb)
10.times { |i| CountJob.perform_async("sk:count", i) }
CountJob.perform_in(1, "sk:later", 1)
Sidekiq::Client.push_bulk("class" => CountJob, "args" => [["sk:bulk", 1], ["sk:bulk", 2]])
FailJob.perform_async
check(Sidekiq::Queue.new("default").size == 13, "queued #{Sidekiq::Queue.new.size}")
check(Sidekiq::ScheduledSet.new.size == 1, "scheduled set")

here = File.dirname(File.expand_path(__FILE__))
worker = Process.spawn({ "REDIS_URL" => url }, "sidekiq", "-r", File.join(here, "fw_job.rb"),
                       "-c", "2", "-t", "3", "-q", "default")
begin
  deadline = Time.now + 40
  done = lambda do
    Sidekiq.redis do |r|
      r.get("sk:count") == "45" && r.get("sk:later") == "1" && r.get("sk:bulk") == "3"
    end && Sidekiq::RetrySet.new.size == 1 &&
      # Counters are flushed with the worker's heartbeat (every few seconds).
      Sidekiq::Stats.new.processed >= 13 && Sidekiq::Stats.new.failed >= 1
  end
  sleep 0.1 until done.call || Time.now > deadline
  check(done.call, "jobs ran: count=#{Sidekiq.redis { |r| r.get('sk:count') }} later=#{Sidekiq.redis { |r| r.get('sk:later') }} bulk=#{Sidekiq.redis { |r| r.get('sk:bulk') }} retries=#{Sidekiq::RetrySet.new.size} processed=#{Sidekiq::Stats.new.processed}")
  check(Sidekiq::Queue.new("default").size == 0, "queue drained")
  check(Sidekiq::ScheduledSet.new.size == 0, "scheduled job moved")
  retry_job = Sidekiq::RetrySet.new.first
  check(retry_job.klass == "FailJob" && retry_job["error_message"] == "failed on purpose", "retry entry")
  check(Sidekiq::ProcessSet.new.size == 1, "worker process heartbeat")
ensure
  Process.kill("TERM", worker)
  waited = Time.now + 15
  sleep 0.1 until Process.waitpid(worker, Process::WNOHANG) || Time.now > waited
  begin
    Process.kill("KILL", worker)
    Process.wait(worker)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end
end
puts "sidekiq: all checks passed"
