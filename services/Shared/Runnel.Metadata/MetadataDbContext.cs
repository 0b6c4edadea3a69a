using Microsoft.EntityFrameworkCore;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata;

/// <summary>The control-plane model. Provider-specific subclasses carry their own migrations.</summary>
public abstract class MetadataDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<StreamEntity> Streams => Set<StreamEntity>();
    public DbSet<ShardEntity> Shards => Set<ShardEntity>();
    public DbSet<ShardPlacementEntity> ShardPlacements => Set<ShardPlacementEntity>();
    public DbSet<StoreNodeEntity> StoreNodes => Set<StoreNodeEntity>();
    public DbSet<StreamTagEntity> StreamTags => Set<StreamTagEntity>();
    public DbSet<StreamConsumerEntity> StreamConsumers => Set<StreamConsumerEntity>();
    public DbSet<LeaseEntity> Leases => Set<LeaseEntity>();
    public DbSet<AccessKeyEntity> AccessKeys => Set<AccessKeyEntity>();
    public DbSet<AuditEntryEntity> AuditEntries => Set<AuditEntryEntity>();
    public DbSet<ReshardOperationEntity> ReshardOperations => Set<ReshardOperationEntity>();
    public DbSet<EventSourceMappingEntity> EventSourceMappings => Set<EventSourceMappingEntity>();
    public DbSet<DeliveryStreamEntity> DeliveryStreams => Set<DeliveryStreamEntity>();
    public DbSet<DeliveryStreamTagEntity> DeliveryStreamTags => Set<DeliveryStreamTagEntity>();
    public DbSet<AnalyticsApplicationEntity> AnalyticsApplications => Set<AnalyticsApplicationEntity>();
    public DbSet<AnalyticsCheckpointEntity> AnalyticsCheckpoints => Set<AnalyticsCheckpointEntity>();
    public DbSet<StreamDataKeyEntity> StreamDataKeys => Set<StreamDataKeyEntity>();
    public DbSet<ResourcePolicyEntity> ResourcePolicies => Set<ResourcePolicyEntity>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(MetadataDbContext).Assembly);
}
