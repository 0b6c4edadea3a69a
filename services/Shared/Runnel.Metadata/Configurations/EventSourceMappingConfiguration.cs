using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class EventSourceMappingConfiguration : IEntityTypeConfiguration<EventSourceMappingEntity>
{
    public void Configure(EntityTypeBuilder<EventSourceMappingEntity> b)
    {
        b.ToTable("event_source_mappings");
        b.HasKey(m => m.Uuid);
        b.Property(m => m.Uuid).HasMaxLength(36);
        b.Property(m => m.EventSourceArn).HasMaxLength(2048);
        b.Property(m => m.FunctionName).HasMaxLength(2048);
        b.Property(m => m.State).HasMaxLength(16);
        b.Property(m => m.StateTransitionReason).HasMaxLength(256);
        b.Property(m => m.StartingPosition).HasMaxLength(16);
        b.Property(m => m.OnFailureDestination).HasMaxLength(2048);
        b.Property(m => m.LastProcessingResult).HasMaxLength(1024);
        b.Property(m => m.Version).IsConcurrencyToken();
        b.HasIndex(m => m.StreamId);
        b.HasIndex(m => m.FunctionName);
    }
}
