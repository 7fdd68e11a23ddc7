# Jobs the Sidekiq worker process loads (sidekiq -r ./fw_job.rb).
require "sidekiq"

Sidekiq.configure_server do |config|
  # Poll the scheduled set every ~1s instead of the default 5-15s start delay.
  config.options[:poll_interval_average] = 1
end

class CountJob
  include Sidekiq::Worker

  def perform(key, by)
    Sidekiq.redis { |r| r.incrby(key, by) }
  end
end

class FailJob
  include Sidekiq::Worker
  sidekiq_options retry: 1

  def perform
    raise "failed on purpose"
  end
end
